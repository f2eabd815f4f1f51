"""The v1.0 properties of the directory types the emulator serves (from Microsoft Graph v1.0's metadata,
as msgraph-sdk's generated models carry it): ``$select`` and ``$filter`` name only these, else Graph
answers 400 "Could not find a property named 'x' on type 'microsoft.graph.user'."

``*_PROPERTIES`` are structural properties (rendered, null when the tenant has no value);
``*_NAVIGATION`` are relationships (known names, never rendered by ``$select``); ``*_FILTERABLE`` are
the properties v1.0 documents as supporting ``$filter`` (any other is 400 Request_UnsupportedQuery).
"""

from __future__ import annotations

from dataclasses import dataclass

USER_PROPERTIES = frozenset(
    {
        "aboutMe", "accountEnabled", "ageGroup", "assignedLicenses", "assignedPlans", "authorizationInfo",
        "birthday", "businessPhones", "city", "companyName", "consentProvidedForMinor", "country",
        "createdDateTime", "creationType", "customSecurityAttributes", "deletedDateTime", "department",
        "deviceEnrollmentLimit", "displayName", "employeeHireDate", "employeeId", "employeeLeaveDateTime",
        "employeeOrgData", "employeeType", "externalUserState", "externalUserStateChangeDateTime",
        "faxNumber", "givenName", "hireDate", "id", "identities", "identityParentId", "imAddresses",
        "interests", "isManagementRestricted", "isResourceAccount", "jobTitle",
        "lastPasswordChangeDateTime", "legalAgeGroupClassification", "licenseAssignmentStates", "mail",
        "mailNickname", "mailboxSettings", "mobilePhone", "mySite", "officeLocation",
        "onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesExtensionAttributes",
        "onPremisesImmutableId", "onPremisesLastSyncDateTime", "onPremisesProvisioningErrors",
        "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
        "onPremisesUserPrincipalName", "otherMails", "passwordPolicies", "passwordProfile",
        "pastProjects", "postalCode", "preferredDataLocation", "preferredLanguage", "preferredName",
        "provisionedPlans", "proxyAddresses", "responsibilities", "schools", "securityIdentifier",
        "serviceProvisioningErrors", "showInAddressList", "signInActivity",
        "signInSessionsValidFromDateTime", "skills", "state", "streetAddress", "surname", "usageLocation",
        "userPrincipalName", "userType"
    }
)

USER_NAVIGATION = frozenset(
    {
        "activities", "adhocCalls", "agreementAcceptances", "appRoleAssignments", "authentication",
        "calendar", "calendarGroups", "calendarView", "calendars", "chats", "cloudClipboard", "cloudPCs",
        "contactFolders", "contacts", "createdObjects", "dataSecurityAndGovernance",
        "deviceManagementTroubleshootingEvents", "directReports", "drive", "drives", "employeeExperience",
        "events", "extensions", "followedSites", "inferenceClassification", "insights", "joinedTeams",
        "licenseDetails", "mailFolders", "managedAppRegistrations", "managedDevices", "manager",
        "memberOf", "messages", "notes", "oauth2PermissionGrants", "onPremisesSyncBehavior", "onenote",
        "onlineMeetings", "outlook", "ownedDevices", "ownedObjects", "people", "permissionGrants",
        "photo", "photos", "planner", "presence", "print", "registeredDevices", "scopedRoleMemberOf",
        "settings", "solutions", "sponsorOf", "sponsors", "teamwork", "todo", "transitiveMemberOf"
    }
)

GROUP_PROPERTIES = frozenset(
    {
        "accessType", "allowExternalSenders", "assignedLabels", "assignedLicenses",
        "autoSubscribeNewMembers", "classification", "createdDateTime", "deletedDateTime", "description",
        "displayName", "expirationDateTime", "groupTypes", "hasMembersWithLicenseErrors",
        "hideFromAddressLists", "hideFromOutlookClients", "id", "infoCatalogs", "isArchived",
        "isAssignableToRole", "isFavorite", "isManagementRestricted", "isSubscribedByMail",
        "licenseProcessingState", "mail", "mailEnabled", "mailNickname", "membershipRule",
        "membershipRuleProcessingState", "onPremisesDomainName", "onPremisesExtensionAttributes",
        "onPremisesLastSyncDateTime", "onPremisesNetBiosName", "onPremisesProvisioningErrors",
        "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
        "organizationId", "preferredDataLocation", "preferredLanguage", "proxyAddresses",
        "renewedDateTime", "resourceBehaviorOptions", "resourceProvisioningOptions", "securityEnabled",
        "securityIdentifier", "serviceProvisioningErrors", "theme", "uniqueName",
        "unseenConversationsCount", "unseenCount", "unseenMessagesCount", "visibility",
        "welcomeMessageEnabled"
    }
)

GROUP_NAVIGATION = frozenset(
    {
        "acceptedSenders", "appRoleAssignments", "calendar", "calendarView", "conversations",
        "createdOnBehalfOf", "drive", "drives", "events", "extensions", "groupLifecyclePolicies",
        "memberOf", "members", "membersWithLicenseErrors", "onPremisesSyncBehavior", "onenote", "owners",
        "permissionGrants", "photo", "photos", "planner", "rejectedSenders", "settings", "sites", "team",
        "threads", "transitiveMemberOf", "transitiveMembers"
    }
)

SERVICE_PRINCIPAL_PROPERTIES = frozenset(
    {
        "accountEnabled", "addIns", "alternativeNames", "appDescription", "appDisplayName", "appId",
        "appOwnerOrganizationId", "appRoleAssignmentRequired", "appRoles", "applicationTemplateId",
        "createdByAppId", "customSecurityAttributes", "deletedDateTime", "description",
        "disabledByMicrosoftStatus", "displayName", "homepage", "id", "info", "isDisabled",
        "keyCredentials", "loginUrl", "logoutUrl", "notes", "notificationEmailAddresses",
        "oauth2PermissionScopes", "passwordCredentials", "preferredSingleSignOnMode",
        "preferredTokenSigningKeyThumbprint", "replyUrls", "resourceSpecificApplicationPermissions",
        "samlSingleSignOnSettings", "servicePrincipalNames", "servicePrincipalType", "signInAudience",
        "tags", "tokenEncryptionKeyId", "verifiedPublisher"
    }
)

SERVICE_PRINCIPAL_NAVIGATION = frozenset(
    {
        "appManagementPolicies", "appRoleAssignedTo", "appRoleAssignments", "claimsMappingPolicies",
        "createdObjects", "delegatedPermissionClassifications", "endpoints",
        "federatedIdentityCredentials", "homeRealmDiscoveryPolicies", "memberOf",
        "oauth2PermissionGrants", "ownedObjects", "owners", "remoteDesktopSecurityConfiguration",
        "synchronization", "tokenIssuancePolicies", "tokenLifetimePolicies", "transitiveMemberOf"
    }
)

USER_FILTERABLE = frozenset(
    {
        "accountEnabled", "ageGroup", "assignedLicenses", "assignedPlans", "businessPhones", "city",
        "companyName", "consentProvidedForMinor", "country", "createdDateTime", "creationType",
        "customSecurityAttributes", "department", "displayName", "employeeHireDate", "employeeId",
        "employeeLeaveDateTime", "employeeOrgData", "employeeType", "externalUserState",
        "externalUserStateChangeDateTime", "faxNumber", "givenName", "id", "identities", "imAddresses",
        "jobTitle", "mail", "mailNickname", "mobilePhone", "officeLocation",
        "onPremisesExtensionAttributes", "onPremisesImmutableId", "onPremisesLastSyncDateTime",
        "onPremisesProvisioningErrors", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
        "onPremisesSyncEnabled", "onPremisesUserPrincipalName", "otherMails", "passwordPolicies",
        "passwordProfile", "postalCode", "preferredLanguage", "provisionedPlans", "proxyAddresses",
        "securityIdentifier", "serviceProvisioningErrors", "signInActivity", "state", "streetAddress",
        "surname", "usageLocation", "userPrincipalName", "userType"
    }
)

GROUP_FILTERABLE = frozenset(
    {
        "assignedLicenses", "classification", "description", "displayName", "expirationDateTime",
        "groupTypes", "hasMembersWithLicenseErrors", "id", "isAssignableToRole", "mail", "mailEnabled",
        "mailNickname", "membershipRule", "membershipRuleProcessingState",
        "onPremisesExtensionAttributes", "onPremisesLastSyncDateTime", "onPremisesProvisioningErrors",
        "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled", "owners",
        "preferredLanguage", "proxyAddresses", "renewedDateTime", "resourceProvisioningOptions",
        "securityEnabled", "serviceProvisioningErrors"
    }
)


@dataclass(frozen=True)
class EntityType:
    """One Graph entity type: its qualified name and the property names it knows."""

    name: str
    resource: str  # as Graph's filter errors name it: "User"
    properties: frozenset[str]
    navigation: frozenset[str] = frozenset()
    filterable: frozenset[str] | None = None  # None: any known property
    sortable: frozenset[str] = frozenset()  # what $orderby takes

    def knows(self, name: str) -> bool:
        return name in self.properties or name in self.navigation

    def filters_on(self, name: str) -> bool:
        return self.filterable is None or name in self.filterable


REGISTRATION_PROPERTIES = frozenset(
    {
        "id", "isAdmin", "isMfaCapable", "isMfaRegistered", "isPasswordlessCapable", "isSsprCapable",
        "isSsprEnabled", "isSsprRegistered", "isSystemPreferredAuthenticationMethodEnabled",
        "lastUpdatedDateTime", "methodsRegistered", "systemPreferredAuthenticationMethods", "userDisplayName",
        "userPreferredMethodForSecondaryAuthentication", "userPrincipalName", "userType",
    }
)

USER = EntityType(
    "microsoft.graph.user",
    "User",
    USER_PROPERTIES,
    USER_NAVIGATION,
    USER_FILTERABLE,
    frozenset({"displayName", "userPrincipalName"}),
)
GROUP = EntityType(
    "microsoft.graph.group",
    "Group",
    GROUP_PROPERTIES,
    GROUP_NAVIGATION,
    GROUP_FILTERABLE,
    frozenset({"displayName"}),
)
REGISTRATION = EntityType(
    "microsoft.graph.userRegistrationDetails", "UserRegistrationDetails", REGISTRATION_PROPERTIES
)
SERVICE_PRINCIPAL = EntityType(
    "microsoft.graph.servicePrincipal",
    "ServicePrincipal",
    SERVICE_PRINCIPAL_PROPERTIES,
    SERVICE_PRINCIPAL_NAVIGATION,
)
