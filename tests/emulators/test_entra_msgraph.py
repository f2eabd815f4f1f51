"""The Entra emulator read by Microsoft's own Python Graph SDK (msgraph-sdk), unmodified: azure-identity's
ClientSecretCredential gets the token from the emulator's authority, the SDK's request adapter points at
the emulator's Graph and trusts its test CA."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import HeadersInspectionHandlerOption
from msgraph import GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user_default_authentication_method import UserDefaultAuthenticationMethod
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from connectors.emulators.entra import DEFAULT_ROLES, EntraCredentials, create_app
from connectors.emulators.generate import REFERENCE, generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.server import TlsMaterial
from tests.emulators.msgraph_client import graph_client, run_with

CREDS = EntraCredentials(
    "3c9e4a10-7f21-4b8e-9d55-0a1b2c3d4e5f",
    "9b8a7c6d-1111-4222-8333-444455556666",
    "sdk~secret",
    roles=DEFAULT_ROLES | {"User.ReadWrite.All"},  # the delta test edits a profile (jobTitle)
)
T = TypeVar("T")
# msgraph-sdk's generated request builders warn about their own deprecated configuration classes
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def small_org() -> SyntheticOrg:
    """Smaller than the other emulator tests' org: the SDK spends some 40 ms building each user object."""
    return generate_org(50, seed=7)


@pytest.fixture
def emulator(serve, small_org: SyntheticOrg) -> str:
    server, _ = serve(create_app, small_org.entra, strict_auth=True, credentials=CREDS)
    return server.url


def sdk(url: str, tls: TlsMaterial) -> GraphServiceClient:
    return graph_client(url, tls, CREDS.tenant_id, CREDS.client_id, CREDS.client_secret)


def run(url: str, tls: TlsMaterial, body: Callable[[GraphServiceClient], Awaitable[T]]) -> T:
    return run_with(sdk(url, tls), body)


def prefer(size: int) -> tuple[RequestConfiguration[Any], HeadersInspectionHandlerOption]:
    """A request configuration sending ``Prefer: odata.maxpagesize=size``, and the option that keeps
    the response headers."""
    inspect = HeadersInspectionHandlerOption(inspect_response_headers=True)
    config: RequestConfiguration[Any] = RequestConfiguration(options=[inspect])
    config.headers.add("Prefer", f"odata.maxpagesize={size}")
    return config, inspect


async def delta_round(
    client: GraphServiceClient, builder: Any, config: RequestConfiguration[Any] | None = None
) -> tuple[list[list[Any]], str]:
    """One round of a delta query as the SDK documents it: nextLinks, then the deltaLink."""
    page = await builder.get(request_configuration=config)
    pages = [page.value]
    while page.odata_next_link:
        page = await builder.with_url(page.odata_next_link).get(request_configuration=config)
        pages.append(page.value)
    assert page.odata_delta_link
    return pages, page.odata_delta_link


# ------------------------------------------------------------------ delta() as the SDK calls it


def test_users_and_groups_delta_through_the_sdk(emulator, tls, small_org: SyntheticOrg) -> None:
    directory = small_org.entra

    async def body(client: GraphServiceClient) -> dict[str, Any]:
        users, user_link = await delta_round(client, client.users.delta)
        groups, group_link = await delta_round(client, client.groups.delta)
        # the namespace-qualified form of the same function
        qualified, _ = await delta_round(
            client, client.users.delta.with_url(f"{emulator}/v1.0/users/microsoft.graph.delta()")
        )
        victim = users[0][3]
        from msgraph.generated.models.user import User

        await client.users.by_user_id(victim.id).patch(User(job_title="Delta Checked"))
        changed, _ = await delta_round(client, client.users.delta.with_url(user_link))
        quiet, _ = await delta_round(client, client.groups.delta.with_url(group_link))
        return {
            "users": [u for p in users for u in p],
            "groups": [g for p in groups for g in p],
            "qualified": [u for p in qualified for u in p],
            "user_link": user_link,
            "victim": victim.id,
            "changed": [u for p in changed for u in p],
            "quiet": [g for p in quiet for g in p],
        }

    seen = run(emulator, tls, body)
    assert len(seen["users"]) == len({u.id for u in seen["users"]}) == len(directory.accounts)
    assert {u.user_principal_name for u in seen["users"]} == {a.login for a in directory.accounts}
    assert len(seen["qualified"]) == len(directory.accounts)
    assert {g.display_name for g in seen["groups"]} == {g.name for g in directory.groups}
    assert "/users/delta()?$deltatoken=" in seen["user_link"]
    assert [(u.id, u.job_title) for u in seen["changed"]] == [(seen["victim"], "Delta Checked")]
    assert seen["quiet"] == []


# ------------------------------------------------------------------ Prefer: odata.maxpagesize


def test_prefer_maxpagesize_sets_the_listing_page(emulator, tls, small_org: SyntheticOrg) -> None:
    async def body(client: GraphServiceClient) -> dict[str, Any]:
        config, inspect = prefer(20)
        first = await client.users.get(request_configuration=config)
        listing_applied = inspect.response_headers.get("preference-applied")
        following = await client.users.with_url(first.odata_next_link).get()
        big, big_inspect = prefer(5000)
        capped = await client.users.get(request_configuration=big)
        return {
            "first": first,
            "listing_applied": listing_applied,
            "following": following,
            "capped": capped,
            "capped_applied": big_inspect.response_headers.get("preference-applied"),
        }

    seen = run(emulator, tls, body)
    assert len(seen["first"].value) == 20 and seen["first"].odata_next_link
    assert seen["listing_applied"] == {"odata.maxpagesize=20"}
    assert len(seen["following"].value) == 20  # the nextLink keeps the page size
    # the preference is capped at the listing's maximum (999): every user on one page
    assert len(seen["capped"].value) == len(small_org.entra.accounts) and not seen["capped"].odata_next_link
    assert seen["capped_applied"] == {"odata.maxpagesize=999"}


def test_prefer_maxpagesize_pages_users_and_groups_delta(emulator, tls, small_org: SyntheticOrg) -> None:
    directory = small_org.entra

    async def body(client: GraphServiceClient) -> dict[str, Any]:
        users, _ = await delta_round(client, client.users.delta, prefer(15)[0])
        groups_config, groups_inspect = prefer(5)
        groups, _ = await delta_round(client, client.groups.delta, groups_config)
        return {
            "users": users,
            "groups": groups,
            "groups_applied": groups_inspect.response_headers.get("preference-applied"),
        }

    seen = run(emulator, tls, body)
    assert [len(p) for p in seen["users"][:-1]] == [15] * (len(seen["users"]) - 1)
    assert sum(len(p) for p in seen["users"]) == len(directory.accounts)
    # groups/delta pages too: five groups a page, every group once, then the deltaLink
    group_ids = [g.id for p in seen["groups"] for g in p]
    assert len(seen["groups"]) == -(-len(directory.groups) // 5)
    assert all(len(p) == 5 for p in seen["groups"][:-1])
    assert len(group_ids) == len(set(group_ids)) == len(directory.groups)
    assert seen["groups_applied"] == {"odata.maxpagesize=5"}


# ------------------------------------------------------------------ userRegistrationDetails in v1.0


def test_registration_details_are_v1_0(emulator, tls, small_org: SyntheticOrg) -> None:
    async def body(client: GraphServiceClient) -> list[Any]:
        report = client.reports.authentication_methods.user_registration_details
        page = await report.get()
        records = list(page.value)
        while page.odata_next_link:
            page = await report.with_url(page.odata_next_link).get()
            records += page.value
        return records

    records = run(emulator, tls, body)
    by_upn = {a.login: a for a in small_org.entra.accounts}
    assert len(records) == len(by_upn)
    strongest = {"push": "push", "totp": "oath", "sms": "sms", "call": "sms"}
    for record in records:
        # nothing the v1.0 model lacks (defaultMfaMethod is beta), every enumeration member known
        assert record.additional_data == {}, record.user_principal_name
        preferred = record.user_preferred_method_for_secondary_authentication
        assert isinstance(preferred, UserDefaultAuthenticationMethod), record.user_principal_name
        factors = by_upn[record.user_principal_name].mfa_factors
        expected = next((strongest[f] for f in ("push", "totp", "sms", "call") if f in factors), "none")
        assert preferred.value == expected
        assert record.system_preferred_authentication_methods == ([] if expected == "none" else [expected])
        assert record.is_mfa_registered is bool(factors)
        assert record.user_type is not None


# ------------------------------------------------------------------ $filter and $select on users


def _users_query(**kwargs: Any) -> RequestConfiguration[Any]:
    params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=999, **kwargs)
    return RequestConfiguration(query_parameters=params)


def test_filter_on_sign_in_activity(emulator, tls, small_org: SyntheticOrg) -> None:
    cutoff = REFERENCE - timedelta(days=90)
    stamp = cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")

    async def body(client: GraphServiceClient) -> tuple[Any, Any, Any]:
        select = ["id", "userPrincipalName", "signInActivity"]
        stale = await client.users.get(
            _users_query(filter=f"signInActivity/lastSignInDateTime le {stamp}", select=select)
        )
        recent = await client.users.get(
            _users_query(filter=f"signInActivity/lastSignInDateTime ge {stamp}", select=select)
        )
        guests = await client.users.get(
            _users_query(filter="userType eq 'Guest' and accountEnabled eq true", select=["id", "userType"])
        )
        return stale, recent, guests

    stale, recent, guests = run(emulator, tls, body)
    accounts = small_org.entra.accounts
    assert {u.user_principal_name for u in stale.value} == {
        a.login for a in accounts if a.last_login and a.last_login <= cutoff
    }
    assert {u.user_principal_name for u in recent.value} == {
        a.login for a in accounts if a.last_login and a.last_login >= cutoff
    }
    assert all(u.sign_in_activity.last_sign_in_date_time <= cutoff for u in stale.value)
    assert len(guests.value) == sum(1 for a in accounts if a.user_type == "Guest" and a.status == "active")


def test_unknown_select_or_filter_property_is_graphs_400(emulator, tls) -> None:
    async def attempt(call: Awaitable[Any]) -> ODataError:
        with pytest.raises(ODataError) as failure:
            await call
        return failure.value

    async def body(client: GraphServiceClient) -> tuple[ODataError, ODataError, Any]:
        selected = await attempt(client.users.get(_users_query(select=["id", "favouriteColour"])))
        filtered = await attempt(client.users.get(_users_query(filter="favouriteColour eq 'blue'")))
        # a v1.0 property the tenant holds no value for is null, not an error
        known = await client.users.get(_users_query(select=["id", "city", "usageLocation"]))
        return selected, filtered, known

    selected, filtered, known = run(emulator, tls, body)
    for error, name in ((selected, "favouriteColour"), (filtered, "favouriteColour")):
        assert error.response_status_code == 400
        assert error.error.code == "BadRequest"
        expected = f"Could not find a property named '{name}' on type 'microsoft.graph.user'."
        assert error.error.message == expected
        assert error.error.inner_error is not None
    assert known.value and all(u.city is None and u.usage_location is None for u in known.value)


def test_filters_graph_documents_for_users(emulator, tls, small_org: SyntheticOrg) -> None:
    """Lambdas over collections and DateTimeOffset on createdDateTime; ne only as an advanced query;
    a property v1.0 does not filter on is Request_UnsupportedQuery."""
    accounts = small_org.entra.accounts
    created = sorted(a.created for a in accounts)[len(accounts) // 2]
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    owner, alias = next((a.login, x) for a in accounts for x in a.aliases if x.lower().startswith("smtp:"))
    upn = ["id", "userPrincipalName"]

    async def body(client: GraphServiceClient) -> dict[str, Any]:
        by_alias = f"proxyAddresses/any(p:p eq '{alias}')"
        aliased = await client.users.get(_users_query(filter=by_alias, select=upn))
        newer = await client.users.get(_users_query(filter=f"createdDateTime ge {stamp}", select=upn))
        with pytest.raises(ODataError) as plain_ne:
            await client.users.get(_users_query(filter="userType ne 'Member'"))
        advanced = _users_query(filter="userType ne 'Member'", count=True, select=["id", "userType"])
        advanced.headers.add("ConsistencyLevel", "eventual")
        not_members = await client.users.get(advanced)
        with pytest.raises(ODataError) as unfilterable:
            await client.users.get(_users_query(filter="aboutMe eq 'hi'"))
        return {
            "aliased": aliased,
            "newer": newer,
            "plain_ne": plain_ne.value,
            "not_members": not_members,
            "unfilterable": unfilterable.value,
        }

    seen = run(emulator, tls, body)
    assert [u.user_principal_name for u in seen["aliased"].value] == [owner]
    newer = {a.login for a in accounts if a.created >= created}
    assert {u.user_principal_name for u in seen["newer"].value} == newer
    assert seen["plain_ne"].response_status_code == 400
    assert seen["plain_ne"].error.code == "Request_UnsupportedQuery"
    assert "ConsistencyLevel:eventual" in seen["plain_ne"].error.message
    guests = sum(1 for a in accounts if a.user_type != "Member")
    assert guests and len(seen["not_members"].value) == guests and seen["not_members"].odata_count == guests
    assert seen["unfilterable"].error.code == "Request_UnsupportedQuery"
    assert seen["unfilterable"].error.message == (
        "Unsupported or invalid query filter clause specified for property 'aboutMe' of resource 'User'."
    )


def test_delta_filtered_to_some_users(emulator, tls, small_org: SyntheticOrg) -> None:
    """users/delta?$filter=id eq '...' or id eq '...' tracks just those users, as Graph documents."""
    from msgraph.generated.models.user import User
    from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder

    async def body(client: GraphServiceClient) -> dict[str, Any]:
        everyone = (await client.users.get(_users_query(select=["id"]))).value
        tracked, other = [u.id for u in everyone[:2]], everyone[2].id
        query = " or ".join(f"id eq '{uid}'" for uid in tracked)
        Query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters
        config = RequestConfiguration(query_parameters=Query(filter=query, select=["id", "jobTitle"]))
        pages, link = await delta_round(client, client.users.delta, config)
        for uid in (tracked[1], other):
            await client.users.by_user_id(uid).patch(User(job_title="Tracked"))
        changed, _ = await delta_round(client, client.users.delta.with_url(link))
        with pytest.raises(ODataError) as unsupported:
            bad = RequestConfiguration(query_parameters=Query(filter="displayName eq 'x'"))
            await client.users.delta.get(bad)
        return {
            "tracked": tracked,
            "first": [u.id for p in pages for u in p],
            "changed": [(u.id, u.job_title) for p in changed for u in p],
            "unsupported": unsupported.value,
        }

    seen = run(emulator, tls, body)
    assert sorted(seen["first"]) == sorted(seen["tracked"])
    assert seen["changed"] == [(seen["tracked"][1], "Tracked")]
    assert seen["unsupported"].error.code == "Request_UnsupportedQuery"


def test_registration_details_select_and_one_user(emulator, tls, small_org: SyntheticOrg) -> None:
    from msgraph.generated.reports.authentication_methods.user_registration_details.user_registration_details_request_builder import (  # noqa: E501
        UserRegistrationDetailsRequestBuilder,
    )

    Query = UserRegistrationDetailsRequestBuilder.UserRegistrationDetailsRequestBuilderGetQueryParameters

    async def body(client: GraphServiceClient) -> dict[str, Any]:
        report = client.reports.authentication_methods.user_registration_details
        selected = await report.get(
            RequestConfiguration(query_parameters=Query(select=["id", "isMfaRegistered"], top=999))
        )
        unregistered = await report.get(
            RequestConfiguration(query_parameters=Query(filter="isMfaRegistered eq false", top=999))
        )
        one = await report.by_user_registration_details_id(selected.value[0].id).get()
        with pytest.raises(ODataError) as unknown:
            await report.get(RequestConfiguration(query_parameters=Query(select=["defaultMfaMethod"])))
        return {"selected": selected, "unregistered": unregistered, "one": one, "unknown": unknown.value}

    seen = run(emulator, tls, body)
    first = seen["selected"].value[0]
    assert first.is_mfa_registered is not None and first.user_principal_name is None  # only what was selected
    assert len(seen["unregistered"].value) == sum(1 for a in small_org.entra.accounts if not a.mfa_factors)
    assert seen["one"].id == first.id and seen["one"].user_principal_name
    assert seen["unknown"].error.message == (
        "Could not find a property named 'defaultMfaMethod' on type "
        "'microsoft.graph.userRegistrationDetails'."
    )


def test_orderby_and_raw_count(emulator, tls, small_org: SyntheticOrg) -> None:
    """$orderby on the properties Graph sorts users by, its refusals, and /users/$count."""
    from msgraph.generated.users.count.count_request_builder import CountRequestBuilder

    accounts = small_org.entra.accounts

    async def body(client: GraphServiceClient) -> dict[str, Any]:
        by_name = await client.users.get(_users_query(orderby=["displayName"], select=["id", "displayName"]))
        by_upn = await client.users.get(
            _users_query(orderby=["userPrincipalName desc"], select=["id", "userPrincipalName"])
        )
        with pytest.raises(ODataError) as unsortable:
            await client.users.get(_users_query(orderby=["createdDateTime"]))
        with pytest.raises(ODataError) as filtered:
            await client.users.get(_users_query(orderby=["displayName"], filter="accountEnabled eq true"))
        with pytest.raises(ODataError) as plain_count:
            await client.users.count.get()
        counting: RequestConfiguration[Any] = RequestConfiguration(
            query_parameters=CountRequestBuilder.CountRequestBuilderGetQueryParameters(
                filter="accountEnabled eq false"
            )
        )
        counting.headers.add("ConsistencyLevel", "eventual")
        disabled = await client.users.count.get(counting)
        return {
            "by_name": [u.display_name for u in by_name.value],
            "by_upn": [u.user_principal_name for u in by_upn.value],
            "unsortable": unsortable.value,
            "filtered": filtered.value,
            "plain_count": plain_count.value,
            "disabled": disabled,
        }

    seen = run(emulator, tls, body)
    assert seen["by_name"] == sorted((a.display_name for a in accounts), key=str.lower)
    assert seen["by_upn"] == sorted((a.login for a in accounts), key=str.lower, reverse=True)
    assert (seen["unsortable"].error.code, seen["unsortable"].error.message) == (
        "Request_UnsupportedQuery",
        "Unsupported sort property 'createdDateTime' for 'User'.",
    )
    assert seen["filtered"].error.message == "Sorting not supported for current query."
    assert seen["plain_count"].response_status_code == 400
    assert "'ConsistencyLevel:eventual' header is missing" in seen["plain_count"].error.message
    assert seen["disabled"] == sum(1 for a in accounts if a.status != "active")
