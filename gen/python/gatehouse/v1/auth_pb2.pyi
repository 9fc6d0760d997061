from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

ACCOUNT_KIND_SERVICE_CLIENT: AccountKind
ACCOUNT_KIND_UNSPECIFIED: AccountKind
ACCOUNT_KIND_USER: AccountKind
DESCRIPTOR: _descriptor.FileDescriptor

class Account(_message.Message):
    __slots__ = ["active", "audiences", "client_id", "created_at", "display_name", "email", "id", "kind", "roles", "updated_at", "username"]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    active: bool
    audiences: _containers.RepeatedScalarFieldContainer[str]
    client_id: str
    created_at: _timestamp_pb2.Timestamp
    display_name: str
    email: str
    id: str
    kind: AccountKind
    roles: _containers.RepeatedScalarFieldContainer[str]
    updated_at: _timestamp_pb2.Timestamp
    username: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[AccountKind, str]] = ..., username: _Optional[str] = ..., client_id: _Optional[str] = ..., email: _Optional[str] = ..., display_name: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., active: bool = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., audiences: _Optional[_Iterable[str]] = ...) -> None: ...

class GetJWKSRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetJWKSResponse(_message.Message):
    __slots__ = ["keys"]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[JSONWebKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[JSONWebKey, _Mapping]]] = ...) -> None: ...

class IntrospectTokenRequest(_message.Message):
    __slots__ = ["client_id", "client_secret", "token", "token_type_hint"]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_HINT_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    client_secret: str
    token: str
    token_type_hint: str
    def __init__(self, token: _Optional[str] = ..., token_type_hint: _Optional[str] = ..., client_id: _Optional[str] = ..., client_secret: _Optional[str] = ...) -> None: ...

class IntrospectTokenResponse(_message.Message):
    __slots__ = ["active", "aud", "client_id", "exp", "iat", "iss", "jti", "nbf", "roles", "scope", "session_id", "sub", "token_type", "username"]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    AUD_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXP_FIELD_NUMBER: _ClassVar[int]
    IAT_FIELD_NUMBER: _ClassVar[int]
    ISS_FIELD_NUMBER: _ClassVar[int]
    JTI_FIELD_NUMBER: _ClassVar[int]
    NBF_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SUB_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    active: bool
    aud: _containers.RepeatedScalarFieldContainer[str]
    client_id: str
    exp: int
    iat: int
    iss: str
    jti: str
    nbf: int
    roles: _containers.RepeatedScalarFieldContainer[str]
    scope: str
    session_id: str
    sub: str
    token_type: str
    username: str
    def __init__(self, active: bool = ..., scope: _Optional[str] = ..., client_id: _Optional[str] = ..., username: _Optional[str] = ..., token_type: _Optional[str] = ..., exp: _Optional[int] = ..., iat: _Optional[int] = ..., nbf: _Optional[int] = ..., sub: _Optional[str] = ..., aud: _Optional[_Iterable[str]] = ..., iss: _Optional[str] = ..., jti: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., session_id: _Optional[str] = ...) -> None: ...

class IssueTokenRequest(_message.Message):
    __slots__ = ["audience", "client_id", "client_secret", "grant_type", "password", "refresh_token", "resource", "scope", "subject_token", "subject_token_type", "username"]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    GRANT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    audience: str
    client_id: str
    client_secret: str
    grant_type: str
    password: str
    refresh_token: str
    resource: _containers.RepeatedScalarFieldContainer[str]
    scope: str
    subject_token: str
    subject_token_type: str
    username: str
    def __init__(self, grant_type: _Optional[str] = ..., username: _Optional[str] = ..., password: _Optional[str] = ..., client_id: _Optional[str] = ..., client_secret: _Optional[str] = ..., scope: _Optional[str] = ..., refresh_token: _Optional[str] = ..., subject_token: _Optional[str] = ..., subject_token_type: _Optional[str] = ..., audience: _Optional[str] = ..., resource: _Optional[_Iterable[str]] = ...) -> None: ...

class IssueTokenResponse(_message.Message):
    __slots__ = ["access_token", "expires_in", "issued_token_type", "refresh_token", "scope", "token_type"]
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    ISSUED_TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    expires_in: int
    issued_token_type: str
    refresh_token: str
    scope: str
    token_type: str
    def __init__(self, access_token: _Optional[str] = ..., token_type: _Optional[str] = ..., expires_in: _Optional[int] = ..., scope: _Optional[str] = ..., refresh_token: _Optional[str] = ..., issued_token_type: _Optional[str] = ...) -> None: ...

class JSONWebKey(_message.Message):
    __slots__ = ["alg", "crv", "e", "kid", "kty", "n", "use", "x", "y"]
    ALG_FIELD_NUMBER: _ClassVar[int]
    CRV_FIELD_NUMBER: _ClassVar[int]
    E_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    KTY_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    USE_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    alg: str
    crv: str
    e: str
    kid: str
    kty: str
    n: str
    use: str
    x: str
    y: str
    def __init__(self, kty: _Optional[str] = ..., kid: _Optional[str] = ..., use: _Optional[str] = ..., alg: _Optional[str] = ..., crv: _Optional[str] = ..., x: _Optional[str] = ..., y: _Optional[str] = ..., n: _Optional[str] = ..., e: _Optional[str] = ...) -> None: ...

class LookupUserRequest(_message.Message):
    __slots__ = ["client_id", "email", "id", "username"]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    email: str
    id: str
    username: str
    def __init__(self, id: _Optional[str] = ..., username: _Optional[str] = ..., email: _Optional[str] = ..., client_id: _Optional[str] = ...) -> None: ...

class LookupUserResponse(_message.Message):
    __slots__ = ["account"]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class Principal(_message.Message):
    __slots__ = ["audience", "client_id", "email", "expires_at", "identity_source", "issued_at", "issuer", "kind", "roles", "scopes", "session_id", "subject", "token_id", "username"]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    audience: _containers.RepeatedScalarFieldContainer[str]
    client_id: str
    email: str
    expires_at: _timestamp_pb2.Timestamp
    identity_source: str
    issued_at: _timestamp_pb2.Timestamp
    issuer: str
    kind: AccountKind
    roles: _containers.RepeatedScalarFieldContainer[str]
    scopes: _containers.RepeatedScalarFieldContainer[str]
    session_id: str
    subject: str
    token_id: str
    username: str
    def __init__(self, subject: _Optional[str] = ..., kind: _Optional[_Union[AccountKind, str]] = ..., username: _Optional[str] = ..., client_id: _Optional[str] = ..., email: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., scopes: _Optional[_Iterable[str]] = ..., issuer: _Optional[str] = ..., audience: _Optional[_Iterable[str]] = ..., issued_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., token_id: _Optional[str] = ..., session_id: _Optional[str] = ..., identity_source: _Optional[str] = ...) -> None: ...

class RevocationEvent(_message.Message):
    __slots__ = ["cursor", "expire_time", "id", "kind", "reset", "revoked_before"]
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = []
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_ACCOUNT_DELETED: RevocationEvent.Kind
    KIND_ACCOUNT_DISABLED: RevocationEvent.Kind
    KIND_ACCOUNT_ENABLED: RevocationEvent.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    KIND_HEARTBEAT: RevocationEvent.Kind
    KIND_KEY_REVOKED: RevocationEvent.Kind
    KIND_SESSION_REVOKED: RevocationEvent.Kind
    KIND_SNAPSHOT_END: RevocationEvent.Kind
    KIND_SUBJECT_REVOKED: RevocationEvent.Kind
    KIND_TOKEN_REVOKED: RevocationEvent.Kind
    KIND_UNSPECIFIED: RevocationEvent.Kind
    RESET_FIELD_NUMBER: _ClassVar[int]
    REVOKED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    expire_time: _timestamp_pb2.Timestamp
    id: str
    kind: RevocationEvent.Kind
    reset: bool
    revoked_before: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[_Union[RevocationEvent.Kind, str]] = ..., id: _Optional[str] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_before: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., cursor: _Optional[str] = ..., reset: bool = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ["client_id", "client_secret", "token", "token_type_hint"]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_HINT_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    client_secret: str
    token: str
    token_type_hint: str
    def __init__(self, token: _Optional[str] = ..., token_type_hint: _Optional[str] = ..., client_id: _Optional[str] = ..., client_secret: _Optional[str] = ...) -> None: ...

class RevokeTokenResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ValidateTokenRequest(_message.Message):
    __slots__ = ["allow_offline_token", "audience", "required_roles", "required_scopes", "token"]
    ALLOW_OFFLINE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_ROLES_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_SCOPES_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    allow_offline_token: bool
    audience: str
    required_roles: _containers.RepeatedScalarFieldContainer[str]
    required_scopes: _containers.RepeatedScalarFieldContainer[str]
    token: str
    def __init__(self, token: _Optional[str] = ..., audience: _Optional[str] = ..., required_roles: _Optional[_Iterable[str]] = ..., required_scopes: _Optional[_Iterable[str]] = ..., allow_offline_token: bool = ...) -> None: ...

class ValidateTokenResponse(_message.Message):
    __slots__ = ["principal"]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ...) -> None: ...

class WatchRevocationsRequest(_message.Message):
    __slots__ = ["cursor"]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    def __init__(self, cursor: _Optional[str] = ...) -> None: ...

class AccountKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
