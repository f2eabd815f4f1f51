"""One deterministic generator for the synthetic organisation all three emulators serve.

The same people exist across providers, with the mess real companies have: a manager hierarchy and
departments, contractors, leavers whose accounts linger, people missing from a provider, orphan
accounts nobody in HR owns, shared and service accounts, admins without MFA, accounts unused for
months, nested groups (Entra and Google), privileged groups, apps and roles (some held through a
group, and an Okta custom role), and different email aliases in different providers.  Same arguments, same organisation: only ``random.Random(seed)``
and a fixed reference date are used.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from connectors.emulators.model import (
    Account,
    App,
    AppPassword,
    Directory,
    Group,
    HrPerson,
    MfaFactor,
    OAuthGrant,
    Role,
    SyntheticOrg,
)

REFERENCE = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ProviderName = Literal["okta", "entra", "google"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _words(
    "ada alan alex amir ana anna ben beth carl chen chloe dan dana diego eli ella emma eric eva finn "
    "grace hana hugo ian ines ivan jack jade jane jin joao john jose julia kai kate kim lara leo "
    "liam lina luca lucy maya max mei mia nina noah nora olga omar oscar paul pia quinn raj rita "
    "rosa sam sara sean sofia tara tom uma vera victor wei yara yusuf zoe"
)
LAST = _words(
    "adams ahmed alvarez baker bauer becker chen cohen costa cruz diaz dubois evans fischer garcia "
    "gomez gupta hansen hill ito jansen jones kahn kim kowalski lee lopez martin meyer moreau "
    "muller nguyen novak obrien ortiz park patel perez petrov quinn reyes rossi sato schmidt "
    "silva smith tanaka taylor torres wagner walsh wang weber wilson wong yamada young zhang"
)
DEPARTMENTS = ("Engineering", "Sales", "Marketing", "Finance", "IT", "HR", "Support", "Legal", "Operations")
TITLES = {0: "Chief Executive Officer", 1: "VP", 2: "Director", 3: "Manager"}
LOCATIONS = ("Berlin", "London", "New York", "San Francisco", "Singapore", "Remote", "Toronto")
OKTA_FACTORS: tuple[MfaFactor, ...] = ("push", "totp", "sms", "webauthn")
APPS = (
    ("slack", "Slack", False),
    ("zoom", "Zoom", False),
    ("salesforce", "Salesforce", False),
    ("aws_console", "AWS Console", True),
    ("github", "GitHub Enterprise", True),
    ("jira", "Jira", False),
    ("confluence", "Confluence", False),
    ("workday", "Workday", False),
    ("netsuite", "NetSuite", False),
    ("zendesk", "Zendesk", False),
    ("figma", "Figma", False),
    ("datadog", "Datadog", False),
    ("pagerduty", "PagerDuty", False),
    ("tableau", "Tableau", False),
    ("docusign", "DocuSign", False),
    ("gcp_console", "GCP Console", True),
)
DEPT_APPS = {
    "Engineering": ("github", "jira", "datadog", "pagerduty", "aws_console"),
    "Sales": ("salesforce", "docusign", "tableau"),
    "Marketing": ("figma", "tableau", "salesforce"),
    "Finance": ("netsuite", "workday", "tableau"),
    "IT": ("aws_console", "gcp_console", "datadog", "jira"),
    "HR": ("workday", "docusign"),
    "Support": ("zendesk", "jira", "salesforce"),
    "Legal": ("docusign", "confluence"),
    "Operations": ("netsuite", "jira", "tableau"),
}
SHARED = (
    # (local part, display name, shared, service)
    ("it-admin", "IT Admin (shared)", True, False),
    ("helpdesk", "Helpdesk (shared)", True, False),
    ("shared-finance", "Finance shared mailbox", True, False),
    ("build-bot", "Build bot", False, True),
    ("svc-backup", "Backup service", False, True),
)
ROLES: dict[ProviderName, tuple[str, ...]] = {
    "okta": ("SUPER_ADMIN", "ORG_ADMIN", "APP_ADMIN", "READ_ONLY_ADMIN"),
    "entra": (
        "Global Administrator",
        "Privileged Role Administrator",
        "User Administrator",
        "Security Reader",
    ),
    "google": (
        "_SEED_ADMIN_ROLE",
        "_USER_MANAGEMENT_ADMIN_ROLE",
        "_GROUPS_ADMIN_ROLE",
        "_HELP_DESK_ADMIN_ROLE",
    ),
}
#: the group each provider assigns an admin role to (Entra: a role-assignable group), and that role
ROLE_GROUPS: dict[ProviderName, tuple[str, str]] = {
    "okta": ("helpdesk-admins", "HELP_DESK_ADMIN"),
    "entra": ("Helpdesk Admins", "Helpdesk Administrator"),
    "google": ("helpdesk-admins", "_HELP_DESK_ADMIN_ROLE"),
}
#: Okta's custom admin role (label, description), assigned to one user
OKTA_CUSTOM_ROLE = ("Access Reviewer", "Reviews who has access: reads users, groups, apps and the System Log")
PRIVILEGED_GROUPS: dict[ProviderName, tuple[str, ...]] = {
    "okta": ("aws-prod-admins", "okta-super-admins"),
    "entra": ("Domain Admins", "aws-prod-admins"),
    "google": ("gcp-org-admins", "aws-prod-admins"),
}


def _slug(text: str) -> str:
    return text.lower().replace(" ", "-")


class _Builder:
    def __init__(self, people: int, seed: int, domain: str) -> None:
        self.n = people
        self.rng = random.Random(seed)
        self.domain = domain
        self.tenant = domain.split(".")[0]
        self.people: list[HrPerson] = []
        self.depth: list[int] = []
        self.local: list[str] = []  # first.last local part per person
        self.terminated_lingering: set[int] = set()
        self.admins: list[int] = []
        self.admin_set: set[int] = set()

    # -- HR -------------------------------------------------------------------

    def hr(self) -> None:
        rng = self.rng
        used: dict[str, int] = {}
        for i in range(self.n):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = f"{first}.{last}"
            count = used.get(local, 0)
            used[local] = count + 1
            if count:
                local = f"{local}{count + 1}"
            self.local.append(local)
            if i == 0:
                manager, depth = None, 0
                department = "Operations"
            else:
                # the CEO's reports head one department each; below them, spans of six
                heads = len(DEPARTMENTS)
                manager = 0 if i <= heads else (i - heads - 1) // 6 + 1
                depth = self.depth[manager] + 1
                department = DEPARTMENTS[i - 1] if manager == 0 else self.people[manager].department
            self.depth.append(depth)
            title = TITLES.get(depth)
            if title in ("VP", "Director", "Manager"):
                title = f"{title}, {department}"
            elif title is None:
                title = (
                    rng.choice(("Senior ", "", "", "Staff "))
                    + {
                        "Engineering": "Software Engineer",
                        "Sales": "Account Executive",
                        "Marketing": "Marketing Specialist",
                        "Finance": "Accountant",
                        "IT": "Systems Administrator",
                        "HR": "People Partner",
                        "Support": "Support Engineer",
                        "Legal": "Counsel",
                        "Operations": "Operations Analyst",
                    }[department]
                )
            contractor = depth >= 3 and rng.random() < 0.11
            hire = REFERENCE.date() - timedelta(days=rng.randint(30, 3000))
            terminated = i > 0 and depth >= 2 and rng.random() < 0.03
            termination = REFERENCE.date() - timedelta(days=rng.randint(1, 60)) if terminated else None
            if terminated and rng.random() < 0.5:
                self.terminated_lingering.add(i)
            self.people.append(
                HrPerson(
                    employee_id=f"E{100001 + i}",
                    first_name=first.capitalize(),
                    last_name=last.capitalize(),
                    email=f"{local}@{self.domain}",
                    department=department,
                    title=title,
                    manager_employee_id=self.people[manager].employee_id if manager is not None else None,
                    employment_type="contractor" if contractor else "employee",
                    status="terminated" if terminated else "active",
                    hire_date=hire,
                    termination_date=termination,
                    location=rng.choice(LOCATIONS),
                )
            )
        it_people = [i for i, p in enumerate(self.people) if p.department == "IT" and p.status == "active"]
        self.admins = it_people[: max(3, len(it_people) // 4)] or [0]
        self.admin_set = set(self.admins)

    # -- accounts ---------------------------------------------------------------

    def _last_login(self, created: datetime) -> datetime | None:
        roll = self.rng.random()
        if roll < 0.04:
            return None
        if roll < 0.12:
            return REFERENCE - timedelta(days=self.rng.randint(91, 400), minutes=self.rng.randint(0, 1440))
        return max(
            created, REFERENCE - timedelta(days=self.rng.randint(0, 30), minutes=self.rng.randint(0, 1440))
        )

    def _factors(self, admin: bool) -> list[MfaFactor]:
        rng = self.rng
        if rng.random() < (0.25 if admin else 0.15):
            return []
        return sorted(set(rng.sample(OKTA_FACTORS, rng.randint(1, 2))))

    def accounts(self, provider: ProviderName) -> tuple[list[Account], dict[int, str]]:
        """Accounts of one provider; also maps person index -> account key."""
        rng = self.rng
        accounts: list[Account] = []
        key_of: dict[int, str] = {}
        for i, person in enumerate(self.people):
            if person.status == "terminated" and i not in self.terminated_lingering and rng.random() < 0.6:
                status = "deprovisioned" if provider == "okta" else "suspended"
            elif person.status == "terminated" and i not in self.terminated_lingering:
                continue  # already removed from this provider
            else:
                status = "active"
            if i > 0 and rng.random() < 0.03:
                continue  # missing from this provider
            if status == "active" and rng.random() < 0.015:
                status = "suspended"
            local = self.local[i]
            created = datetime.combine(person.hire_date, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
            aliases: list[str] = []
            email = f"{local}@{self.domain}"
            if provider == "okta":
                login = email
                if rng.random() < 0.2:
                    aliases.append(f"{local.replace('.', '')}@{self.domain}")
            elif provider == "entra":
                login = f"{local}@{self.tenant}.onmicrosoft.com" if rng.random() < 0.1 else email
                aliases.append(f"smtp:{local}@{self.tenant}.mail.onmicrosoft.com")
            else:
                if rng.random() < 0.3:
                    login = f"{person.first_name[0].lower()}{person.last_name.lower()}{i}@{self.domain}"
                    aliases.append(email)
                else:
                    login = email
                email = login
            key = f"p{i:06d}"
            key_of[i] = key
            accounts.append(
                Account(
                    key=key,
                    login=login,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    status=status,  # type: ignore[arg-type]
                    created=created,
                    last_updated=created + timedelta(days=rng.randint(0, 30)),
                    last_login=self._last_login(created) if status == "active" else None,
                    person_employee_id=person.employee_id,
                    employee_id=person.employee_id if rng.random() > 0.06 else None,
                    email=email,
                    aliases=aliases,
                    department=person.department,
                    title=person.title,
                    manager_key=None,  # filled below once every key is known
                    mfa_factors=self._factors(i in self.admin_set),
                    user_type="Member",
                )
            )
        by_key = {a.key: a for a in accounts}
        for i, key in key_of.items():
            manager = self.people[i].manager_employee_id
            if manager is not None:
                manager_index = int(manager[1:]) - 100001
                manager_key = key_of.get(manager_index)
                if manager_key is not None:
                    by_key[key].manager_key = manager_key
        # orphans: accounts nobody in HR owns (old hires, test users, vendors)
        for j in range(max(2, self.n // 100)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            created = REFERENCE - timedelta(days=rng.randint(100, 2000))
            accounts.append(
                Account(
                    key=f"orphan{j:05d}",
                    login=f"{first}.{last}.old{j}@{self.domain}",
                    first_name=first.capitalize(),
                    last_name=last.capitalize(),
                    status="active",
                    created=created,
                    last_updated=created,
                    last_login=self._last_login(created),
                    email=f"{first}.{last}.old{j}@{self.domain}",
                    mfa_factors=self._factors(False),
                    user_type="Guest" if provider == "entra" and j % 3 == 0 else "Member",
                )
            )
        for local, display, shared, service in SHARED:
            if provider == "google" and local == "build-bot":
                continue
            created = REFERENCE - timedelta(days=rng.randint(300, 2000))
            first, _, last = display.partition(" ")
            accounts.append(
                Account(
                    key=f"shared-{local}",
                    login=f"{local}@{self.domain}",
                    first_name=first,
                    last_name=last,
                    status="active",
                    created=created,
                    last_updated=created,
                    last_login=REFERENCE - timedelta(days=rng.randint(0, 5)),
                    email=f"{local}@{self.domain}",
                    mfa_factors=[] if local in ("it-admin", "build-bot") else ["totp"],
                    is_shared=shared,
                    is_service=service,
                )
            )
        return accounts, key_of

    # -- groups, apps, roles ---------------------------------------------------------

    def directory(self, provider: ProviderName) -> Directory:
        rng = self.rng
        accounts, key_of = self.accounts(provider)
        live = [a for a in accounts if a.status != "deprovisioned"]
        nests = provider != "okta"
        stamp = REFERENCE - timedelta(days=400)
        groups: list[Group] = []
        dept_members: dict[str, list[str]] = {d: [] for d in DEPARTMENTS}
        for i, key in key_of.items():
            dept_members[self.people[i].department].append(key)
        dept_keys = []
        for dept in DEPARTMENTS:
            gkey = f"dept-{_slug(dept)}"
            dept_keys.append(gkey)
            groups.append(
                Group(
                    key=gkey,
                    name=f"dept-{_slug(dept)}",
                    description=f"Everyone in {dept}",
                    member_keys=list(dept_members[dept]),
                    email=f"dept-{_slug(dept)}@{self.domain}",
                    created=stamp,
                    last_updated=stamp,
                )
            )
        all_staff = Group(
            key="all-staff",
            name="all-staff",
            description="All staff",
            email=f"all-staff@{self.domain}",
            created=stamp,
            last_updated=stamp,
        )
        if nests:
            all_staff.child_group_keys = list(dept_keys)  # membership comes through the departments
        else:
            all_staff.member_keys = [a.key for a in live if a.person_employee_id]
        groups.append(all_staff)
        people_keys = [key_of[i] for i in sorted(key_of)]
        teams = max(3, self.n // 15)
        projects = max(2, self.n // 20)
        for t in range(teams):
            size = rng.randint(36, 84)  # about four teams per person
            groups.append(
                Group(
                    key=f"team{t:05d}",
                    name=f"team-{t:05d}",
                    description="Team",
                    member_keys=sorted(rng.sample(people_keys, min(size, len(people_keys)))),
                    email=f"team-{t:05d}@{self.domain}",
                    created=stamp,
                    last_updated=stamp,
                )
            )
        for p in range(projects):
            size = rng.randint(20, 60)  # about two projects per person
            project = Group(
                key=f"proj{p:05d}",
                name=f"project-{p:05d}",
                description="Project",
                member_keys=sorted(rng.sample(people_keys, min(size, len(people_keys)))),
                email=f"project-{p:05d}@{self.domain}",
                created=stamp,
                last_updated=stamp,
            )
            if nests and p % 5 == 0 and teams:
                project.child_group_keys = [f"team{rng.randrange(teams):05d}"]
            groups.append(project)
        admin_keys = [key_of[i] for i in self.admins if i in key_of]
        for name in PRIVILEGED_GROUPS[provider]:
            members = list(admin_keys)
            members += rng.sample(people_keys, min(3, len(people_keys)))
            members.append("shared-it-admin")
            groups.append(
                Group(
                    key=f"priv-{_slug(name)}",
                    name=name,
                    description="Privileged access",
                    privileged=True,
                    member_keys=sorted(set(members)),
                    owner_keys=admin_keys[:1],
                    email=f"{_slug(name)}@{self.domain}",
                    created=stamp,
                    last_updated=stamp,
                )
            )
        if provider == "okta":
            groups.append(
                Group(
                    key="everyone",
                    name="Everyone",
                    description="All users in your organization",
                    kind="BUILT_IN",
                    member_keys=[a.key for a in live],
                    created=stamp,
                    last_updated=stamp,
                )
            )
        apps: list[App] = []
        if provider != "google":
            for app_key, label, privileged in APPS:
                depts = [d for d, names in DEPT_APPS.items() if app_key in names]
                assigned_groups = [f"dept-{_slug(d)}" for d in depts if rng.random() < 0.5]
                direct: set[str] = set()
                for d in depts:
                    if f"dept-{_slug(d)}" in assigned_groups:
                        continue
                    direct.update(k for k in dept_members[d] if rng.random() < 0.8)
                if app_key in ("slack", "zoom", "confluence"):
                    assigned_groups.append("all-staff")
                if privileged:
                    direct.update(admin_keys)
                apps.append(
                    App(
                        key=f"app-{app_key}",
                        name=app_key,
                        label=label,
                        privileged=privileged,
                        assigned_keys=sorted(direct),
                        assigned_group_keys=assigned_groups,
                    )
                )
        roles: list[Role] = []
        for r, name in enumerate(ROLES[provider]):
            holders = admin_keys[: 2 + r] if r < 2 else rng.sample(people_keys, min(3, len(people_keys)))
            if r == 0:
                holders = [*holders, "shared-it-admin"]
            roles.append(Role(key=f"role-{r}", name=name, assigned_keys=sorted(set(holders))))
        self._roles_through_groups(provider, accounts, key_of, admin_keys, groups, roles, stamp)
        return Directory(
            provider=provider, domain=self.domain, accounts=accounts, groups=groups, apps=apps, roles=roles
        )

    def _roles_through_groups(
        self,
        provider: ProviderName,
        accounts: list[Account],
        key_of: dict[int, str],
        admin_keys: list[str],
        groups: list[Group],
        roles: list[Role],
        stamp: datetime,
    ) -> None:
        """An admin role held through a group (a few IT staff and the shared helpdesk account) and,
        in Okta, a custom admin role held by one person.  No randomness: the rest of the org is what
        it was before these existed."""
        admins = set(admin_keys)
        it_staff = [
            key_of[i]
            for i in sorted(key_of)
            if self.people[i].department == "IT"
            and self.people[i].status == "active"
            and key_of[i] not in admins
        ]
        name, role_name = ROLE_GROUPS[provider]
        groups.append(
            Group(
                key="helpdesk-admins",
                name=name,
                description="Helpdesk administrators: the admin role is assigned to the group",
                privileged=True,
                member_keys=sorted({*it_staff[:4], "shared-helpdesk"}),
                owner_keys=admin_keys[:1],
                email=f"helpdesk-admins@{self.domain}",
                created=stamp,
                last_updated=stamp,
                role_assignable=provider == "entra",
            )
        )
        existing = next((r for r in roles if r.name == role_name), None)
        if existing is not None:
            existing.assigned_group_keys.append("helpdesk-admins")
        else:
            # Entra: one member holds the role directly as well (a direct grant beside the inherited one)
            direct = it_staff[:1] if provider == "entra" else []
            roles.append(
                Role(
                    key="role-helpdesk",
                    name=role_name,
                    assigned_keys=direct,
                    assigned_group_keys=["helpdesk-admins"],
                )
            )
        if provider == "okta":
            reviewer = next(
                (
                    a.key
                    for a in accounts
                    if a.department == "Legal" and a.status == "active" and a.person_employee_id
                ),
                admin_keys[0] if admin_keys else None,
            )
            label, description = OKTA_CUSTOM_ROLE
            roles.append(
                Role(
                    key="role-custom-access-reviewer",
                    name=label,
                    assigned_keys=[reviewer] if reviewer else [],
                    custom=True,
                    description=description,
                )
            )


def generate_org(people: int, seed: int = 1, *, domain: str = "example.com") -> SyntheticOrg:
    """A deterministic organisation of ``people`` HR records and their accounts in all three providers."""
    if people < 1:
        raise ValueError("an organisation needs at least one person")
    builder = _Builder(people, seed, domain)
    builder.hr()
    return SyntheticOrg(
        seed=seed,
        domain=domain,
        people=builder.people,
        okta=_with_okta_oauth(builder.directory("okta"), seed),
        entra=builder.directory("entra"),
        google=_with_credentials(builder.directory("google"), seed),
    )


#: third-party apps people grant OAuth access to (client id prefix, name, scopes, installed app)
OAUTH_APPS = (
    ("slack", "Slack", ["https://www.googleapis.com/auth/calendar.readonly", "openid", "email"], False),
    ("zoom", "Zoom", ["https://www.googleapis.com/auth/calendar", "email"], False),
    ("calendly", "Calendly", ["https://www.googleapis.com/auth/calendar"], False),
    ("notion", "Notion", ["https://www.googleapis.com/auth/drive.readonly", "email"], False),
    ("thunderbird", "Thunderbird", ["https://mail.google.com/"], True),
)


def _with_credentials(directory: Directory, seed: int) -> Directory:
    """Give people's active accounts what revocation must take away: OAuth grants to apps (about
    half of them, one to three apps), app-specific passwords (about one in eight) and 2SV backup
    codes (about a third of those enrolled in 2SV, ten codes).  A separate RNG, so the rest of the
    org is what it was before these existed."""
    rng = random.Random(f"{seed}:{directory.provider}:credentials")
    for account in directory.accounts:
        if account.person_employee_id is None or account.status != "active":
            continue
        if rng.random() < 0.5:
            for prefix, name, scopes, native in rng.sample(OAUTH_APPS, rng.randint(1, 3)):
                client_id = f"{rng.randint(10**11, 10**12 - 1)}-{prefix}.apps.googleusercontent.com"
                account.oauth_grants.append(OAuthGrant(client_id, name, list(scopes), native_app=native))
        if rng.random() < 0.125:
            created = account.created + timedelta(days=rng.randint(1, 300))
            account.app_passwords.append(
                AppPassword(rng.randint(1, 2**31 - 1), "Mail on phone", created, created + timedelta(days=30))
            )
        if account.mfa_factors and rng.random() < 0.33:
            account.backup_codes = [f"{rng.randint(0, 10**8 - 1):08d}" for _ in range(10)]
    return directory


#: the org's OIDC apps people sign in to and consent to (name, client id, scopes)
OKTA_OAUTH_CLIENTS = (
    ("Expenses", "0oa1expensesapp7x5d7", ["openid", "profile", "email", "offline_access"]),
    ("Tableau Desktop", "0oa1tableaudesk2q9d7", ["openid", "profile", "offline_access"]),
    ("Okta Verify CLI", "0oa1oktacliapp3m4d7x", ["openid", "okta.users.read.self", "offline_access"]),
)


def _with_okta_oauth(directory: Directory, seed: int) -> Directory:
    """Give about half of people's active Okta accounts consent grants and refresh tokens for one or
    two of the org's OIDC apps, so revoking them is visible.  A separate RNG, so the rest of the
    org is what it was before these existed."""
    rng = random.Random(f"{seed}:okta:oauth")
    for account in directory.accounts:
        if account.person_employee_id is None or account.status != "active" or rng.random() >= 0.5:
            continue
        for name, client_id, scopes in rng.sample(OKTA_OAUTH_CLIENTS, rng.randint(1, 2)):
            account.oauth_grants.append(OAuthGrant(client_id, name, list(scopes)))
    return directory


def okta_benchmark_directory(
    users: int = 10_000,
    groups: int = 500,
    group_size: int = 100,
    seed: int = 1,
    *,
    domain: str = "example.com",
) -> SyntheticOrg:
    """The Okta-only shape used to compare with other Okta sync tools: ``users`` users, ``groups``
    groups of ``group_size`` members and the built-in Everyone group (60k memberships by default)."""
    rng = random.Random(seed)
    created = REFERENCE - timedelta(days=365)
    accounts = [
        Account(
            key=f"u{i:06d}",
            login=f"user{i}@{domain}",
            first_name="User",
            last_name=str(i),
            status="active",
            created=created,
            last_updated=created,
            last_login=REFERENCE - timedelta(days=rng.randint(0, 60)),
            employee_id=f"E{100001 + i}",
            email=f"user{i}@{domain}",
            mfa_factors=["push"] if rng.random() < 0.9 else [],
        )
        for i in range(users)
    ]
    keys = [a.key for a in accounts]
    group_list = [
        Group(
            key=f"g{g:05d}",
            name=f"group-{g:05d}",
            member_keys=sorted(rng.sample(keys, min(group_size, users))),
            created=created,
            last_updated=created,
        )
        for g in range(groups)
    ]
    group_list.append(
        Group(
            key="everyone",
            name="Everyone",
            kind="BUILT_IN",
            member_keys=list(keys),
            created=created,
            last_updated=created,
        )
    )
    empty = {p: Directory(provider=p, domain=domain) for p in ("entra", "google")}  # type: ignore[misc]
    return SyntheticOrg(
        seed=seed,
        domain=domain,
        people=[],
        okta=Directory(provider="okta", domain=domain, accounts=accounts, groups=group_list),
        entra=empty["entra"],
        google=empty["google"],
    )


def reference_date() -> date:
    return REFERENCE.date()
