from gatehouse.v1 import auth_pb2 as _auth_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditEvent(_message.Message):
    __slots__ = ["actor", "actor_name", "detail", "id", "ip", "request_id", "target", "target_name", "time", "type"]
    class DetailEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTOR_NAME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TARGET_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    actor: str
    actor_name: str
    detail: _containers.ScalarMap[str, str]
    id: int
    ip: str
    request_id: str
    target: str
    target_name: str
    time: _timestamp_pb2.Timestamp
    type: str
    def __init__(self, id: _Optional[int] = ..., time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., type: _Optional[str] = ..., actor: _Optional[str] = ..., actor_name: _Optional[str] = ..., target: _Optional[str] = ..., target_name: _Optional[str] = ..., ip: _Optional[str] = ..., request_id: _Optional[str] = ..., detail: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ClaimProfile(_message.Message):
    __slots__ = ["audience", "builtin", "claims", "created_at", "subject", "updated_at", "visible_roles"]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VISIBLE_ROLES_FIELD_NUMBER: _ClassVar[int]
    audience: str
    builtin: str
    claims: _containers.RepeatedCompositeFieldContainer[ProfileClaim]
    created_at: _timestamp_pb2.Timestamp
    subject: str
    updated_at: _timestamp_pb2.Timestamp
    visible_roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, audience: _Optional[str] = ..., subject: _Optional[str] = ..., claims: _Optional[_Iterable[_Union[ProfileClaim, _Mapping]]] = ..., visible_roles: _Optional[_Iterable[str]] = ..., builtin: _Optional[str] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ClientOAuthSettings(_message.Message):
    __slots__ = ["client_id", "first_party", "grant_types", "has_secret", "id", "id_token_signed_response_alg", "post_logout_redirect_uris", "public", "redirect_uris"]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_PARTY_FIELD_NUMBER: _ClassVar[int]
    GRANT_TYPES_FIELD_NUMBER: _ClassVar[int]
    HAS_SECRET_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ID_TOKEN_SIGNED_RESPONSE_ALG_FIELD_NUMBER: _ClassVar[int]
    POST_LOGOUT_REDIRECT_URIS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URIS_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    first_party: bool
    grant_types: _containers.RepeatedScalarFieldContainer[str]
    has_secret: bool
    id: str
    id_token_signed_response_alg: str
    post_logout_redirect_uris: _containers.RepeatedScalarFieldContainer[str]
    public: bool
    redirect_uris: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., client_id: _Optional[str] = ..., redirect_uris: _Optional[_Iterable[str]] = ..., post_logout_redirect_uris: _Optional[_Iterable[str]] = ..., grant_types: _Optional[_Iterable[str]] = ..., public: bool = ..., first_party: bool = ..., id_token_signed_response_alg: _Optional[str] = ..., has_secret: bool = ...) -> None: ...

class CreateServiceClientRequest(_message.Message):
    __slots__ = ["audiences", "client_id", "display_name", "roles"]
    AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    audiences: _containers.RepeatedScalarFieldContainer[str]
    client_id: str
    display_name: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, client_id: _Optional[str] = ..., display_name: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., audiences: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateServiceClientResponse(_message.Message):
    __slots__ = ["client", "client_secret"]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    client: _auth_pb2.Account
    client_secret: str
    def __init__(self, client: _Optional[_Union[_auth_pb2.Account, _Mapping]] = ..., client_secret: _Optional[str] = ...) -> None: ...

class CreateTrustedIssuerRequest(_message.Message):
    __slots__ = ["issuer"]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    issuer: TrustedIssuer
    def __init__(self, issuer: _Optional[_Union[TrustedIssuer, _Mapping]] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ["display_name", "email", "password", "roles", "username"]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    email: str
    password: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    username: str
    def __init__(self, username: _Optional[str] = ..., email: _Optional[str] = ..., display_name: _Optional[str] = ..., password: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteClaimProfileRequest(_message.Message):
    __slots__ = ["audience"]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    audience: str
    def __init__(self, audience: _Optional[str] = ...) -> None: ...

class DeleteClaimProfileResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DeleteServiceClientRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteServiceClientResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DeleteTrustedIssuerRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteTrustedIssuerResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteUserResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DisableServiceClientRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DisableUserRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class EnableUserRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetClaimProfileRequest(_message.Message):
    __slots__ = ["audience"]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    audience: str
    def __init__(self, audience: _Optional[str] = ...) -> None: ...

class GetClientOAuthSettingsRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class IdentityLink(_message.Message):
    __slots__ = ["account_id", "created_at", "created_by", "issuer", "issuer_id", "subject"]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    ISSUER_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    issuer: str
    issuer_id: str
    subject: str
    def __init__(self, issuer_id: _Optional[str] = ..., issuer: _Optional[str] = ..., subject: _Optional[str] = ..., account_id: _Optional[str] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LinkIdentityRequest(_message.Message):
    __slots__ = ["account", "issuer", "subject"]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    account: str
    issuer: str
    subject: str
    def __init__(self, issuer: _Optional[str] = ..., subject: _Optional[str] = ..., account: _Optional[str] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ["actor", "page_size", "page_token", "since", "target", "type", "until"]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    actor: str
    page_size: int
    page_token: str
    since: _timestamp_pb2.Timestamp
    target: str
    type: str
    until: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., since: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., target: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ["events", "next_page_token"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListClaimProfilesRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListClaimProfilesResponse(_message.Message):
    __slots__ = ["profiles"]
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[ClaimProfile]
    def __init__(self, profiles: _Optional[_Iterable[_Union[ClaimProfile, _Mapping]]] = ...) -> None: ...

class ListIdentityLinksRequest(_message.Message):
    __slots__ = ["issuer"]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    issuer: str
    def __init__(self, issuer: _Optional[str] = ...) -> None: ...

class ListIdentityLinksResponse(_message.Message):
    __slots__ = ["links"]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    links: _containers.RepeatedCompositeFieldContainer[IdentityLink]
    def __init__(self, links: _Optional[_Iterable[_Union[IdentityLink, _Mapping]]] = ...) -> None: ...

class ListServiceClientsRequest(_message.Message):
    __slots__ = ["page_size", "page_token"]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListServiceClientsResponse(_message.Message):
    __slots__ = ["clients", "next_page_token"]
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    clients: _containers.RepeatedCompositeFieldContainer[_auth_pb2.Account]
    next_page_token: str
    def __init__(self, clients: _Optional[_Iterable[_Union[_auth_pb2.Account, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ["sessions"]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ...) -> None: ...

class ListSigningKeysRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListSigningKeysResponse(_message.Message):
    __slots__ = ["keys"]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[SigningKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[SigningKey, _Mapping]]] = ...) -> None: ...

class ListTrustedIssuersRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListTrustedIssuersResponse(_message.Message):
    __slots__ = ["issuers"]
    ISSUERS_FIELD_NUMBER: _ClassVar[int]
    issuers: _containers.RepeatedCompositeFieldContainer[TrustedIssuer]
    def __init__(self, issuers: _Optional[_Iterable[_Union[TrustedIssuer, _Mapping]]] = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ["page_size", "page_token"]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUsersResponse(_message.Message):
    __slots__ = ["next_page_token", "users"]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    users: _containers.RepeatedCompositeFieldContainer[_auth_pb2.Account]
    def __init__(self, users: _Optional[_Iterable[_Union[_auth_pb2.Account, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ProfileClaim(_message.Message):
    __slots__ = ["name", "role_order", "source", "value"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_ORDER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    role_order: _containers.RepeatedScalarFieldContainer[str]
    source: str
    value: str
    def __init__(self, name: _Optional[str] = ..., source: _Optional[str] = ..., value: _Optional[str] = ..., role_order: _Optional[_Iterable[str]] = ...) -> None: ...

class PutClaimProfileRequest(_message.Message):
    __slots__ = ["audience", "builtin", "claims", "role_order", "subject", "visible_roles"]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    ROLE_ORDER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    VISIBLE_ROLES_FIELD_NUMBER: _ClassVar[int]
    audience: str
    builtin: str
    claims: _containers.RepeatedCompositeFieldContainer[ProfileClaim]
    role_order: _containers.RepeatedScalarFieldContainer[str]
    subject: str
    visible_roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, audience: _Optional[str] = ..., builtin: _Optional[str] = ..., subject: _Optional[str] = ..., claims: _Optional[_Iterable[_Union[ProfileClaim, _Mapping]]] = ..., role_order: _Optional[_Iterable[str]] = ..., visible_roles: _Optional[_Iterable[str]] = ...) -> None: ...

class RevokeAllSessionsRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RevokeAllSessionsResponse(_message.Message):
    __slots__ = ["revoked"]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    revoked: int
    def __init__(self, revoked: _Optional[int] = ...) -> None: ...

class RevokeSessionRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RevokeSessionResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class RevokeSigningKeyRequest(_message.Message):
    __slots__ = ["kid"]
    KID_FIELD_NUMBER: _ClassVar[int]
    kid: str
    def __init__(self, kid: _Optional[str] = ...) -> None: ...

class RoleMapping(_message.Message):
    __slots__ = ["group", "roles"]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    group: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ...) -> None: ...

class RotateSigningKeyRequest(_message.Message):
    __slots__ = ["immediate"]
    IMMEDIATE_FIELD_NUMBER: _ClassVar[int]
    immediate: bool
    def __init__(self, immediate: bool = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ["account_id", "client_id", "created_at", "expires_at", "id", "last_used_at", "offline", "scope"]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    client_id: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    id: str
    last_used_at: _timestamp_pb2.Timestamp
    offline: bool
    scope: str
    def __init__(self, id: _Optional[str] = ..., account_id: _Optional[str] = ..., client_id: _Optional[str] = ..., scope: _Optional[str] = ..., offline: bool = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetClientOAuthSettingsRequest(_message.Message):
    __slots__ = ["id", "settings"]
    ID_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    settings: ClientOAuthSettings
    def __init__(self, id: _Optional[str] = ..., settings: _Optional[_Union[ClientOAuthSettings, _Mapping]] = ...) -> None: ...

class SetPasswordRequest(_message.Message):
    __slots__ = ["id", "password"]
    ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    id: str
    password: str
    def __init__(self, id: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class SetPasswordResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class SetRolesRequest(_message.Message):
    __slots__ = ["id", "roles"]
    ID_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    id: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ...) -> None: ...

class SetServiceClientAudiencesRequest(_message.Message):
    __slots__ = ["audiences", "id"]
    AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    audiences: _containers.RepeatedScalarFieldContainer[str]
    id: str
    def __init__(self, id: _Optional[str] = ..., audiences: _Optional[_Iterable[str]] = ...) -> None: ...

class SigningKey(_message.Message):
    __slots__ = ["activated_at", "alg", "created_at", "kid", "public_key", "retired_at", "state"]
    ACTIVATED_AT_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    RETIRED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    activated_at: _timestamp_pb2.Timestamp
    alg: str
    created_at: _timestamp_pb2.Timestamp
    kid: str
    public_key: _auth_pb2.JSONWebKey
    retired_at: _timestamp_pb2.Timestamp
    state: str
    def __init__(self, kid: _Optional[str] = ..., alg: _Optional[str] = ..., state: _Optional[str] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., activated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., retired_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., public_key: _Optional[_Union[_auth_pb2.JSONWebKey, _Mapping]] = ...) -> None: ...

class TrustedIssuer(_message.Message):
    __slots__ = ["allowed_algs", "audiences", "created_at", "exchange_clients", "group_claims", "id", "identity_claims", "issuer", "jit_provisioning", "jwks_uri", "leeway_seconds", "link_by", "required_claims", "role_map", "updated_at"]
    ALLOWED_ALGS_FIELD_NUMBER: _ClassVar[int]
    AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    GROUP_CLAIMS_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_CLAIMS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    JIT_PROVISIONING_FIELD_NUMBER: _ClassVar[int]
    JWKS_URI_FIELD_NUMBER: _ClassVar[int]
    LEEWAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LINK_BY_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CLAIMS_FIELD_NUMBER: _ClassVar[int]
    ROLE_MAP_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    allowed_algs: _containers.RepeatedScalarFieldContainer[str]
    audiences: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    exchange_clients: _containers.RepeatedScalarFieldContainer[str]
    group_claims: _containers.RepeatedScalarFieldContainer[str]
    id: str
    identity_claims: _containers.RepeatedScalarFieldContainer[str]
    issuer: str
    jit_provisioning: bool
    jwks_uri: str
    leeway_seconds: int
    link_by: str
    required_claims: _containers.RepeatedScalarFieldContainer[str]
    role_map: _containers.RepeatedCompositeFieldContainer[RoleMapping]
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., issuer: _Optional[str] = ..., jwks_uri: _Optional[str] = ..., audiences: _Optional[_Iterable[str]] = ..., allowed_algs: _Optional[_Iterable[str]] = ..., leeway_seconds: _Optional[int] = ..., required_claims: _Optional[_Iterable[str]] = ..., identity_claims: _Optional[_Iterable[str]] = ..., group_claims: _Optional[_Iterable[str]] = ..., role_map: _Optional[_Iterable[_Union[RoleMapping, _Mapping]]] = ..., jit_provisioning: bool = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., link_by: _Optional[str] = ..., exchange_clients: _Optional[_Iterable[str]] = ...) -> None: ...

class UnlinkIdentityRequest(_message.Message):
    __slots__ = ["issuer", "subject"]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    issuer: str
    subject: str
    def __init__(self, issuer: _Optional[str] = ..., subject: _Optional[str] = ...) -> None: ...

class UnlinkIdentityResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class UnlockAccountRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class UnlockAccountResponse(_message.Message):
    __slots__ = ["cleared"]
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    cleared: int
    def __init__(self, cleared: _Optional[int] = ...) -> None: ...

class UpdateTrustedIssuerRequest(_message.Message):
    __slots__ = ["id", "issuer"]
    ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    id: str
    issuer: TrustedIssuer
    def __init__(self, id: _Optional[str] = ..., issuer: _Optional[_Union[TrustedIssuer, _Mapping]] = ...) -> None: ...

class UpdateUserRequest(_message.Message):
    __slots__ = ["display_name", "email", "id"]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    email: str
    id: str
    def __init__(self, id: _Optional[str] = ..., email: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...
