"""Request and answer bodies of the account-security routes (documented in the OpenAPI file)."""

from __future__ import annotations

import attrs


@attrs.define
class MfaCode:
    ticket: str  # from the login's mfa_required answer
    code: str  # 6 digits from the authenticator app, or a recovery code


@attrs.define
class MfaSetupIn:
    ticket: str = ""  # from the login's mfa_setup_required answer; leave out when logged in


@attrs.define
class MfaSetupOut:
    secret: str
    otpauth_uri: str
    digits: int
    period: int


@attrs.define
class MfaConfirmIn:
    code: str
    ticket: str = ""  # as for setup; with a ticket the answer also holds the tokens


@attrs.define
class MfaConfirmOut:
    recovery_codes: list[str]
    access_token: str | None = None
    token_type: str | None = None
    expires_in: int | None = None
    refresh_token: str | None = None


@attrs.define
class CodeIn:
    code: str  # a current code (or a recovery code): proves the caller holds the second factor


@attrs.define
class RecoveryCodes:
    recovery_codes: list[str]


@attrs.define
class MfaStatus:
    enrolled: bool
    required: bool
    pending: bool
    recovery_codes_left: int


@attrs.define
class PasswordChange:
    current_password: str
    new_password: str


@attrs.define
class Lockout:
    kind: str  # "user" or "address"
    name: str
    reason: str  # "locked" or "delay"
    failures: int
    retry_after: float
    until: float


@attrs.define
class BlockIn:
    network: str  # an address or CIDR network, IPv4 or IPv6
    minutes: float | None = None  # leave out: until lifted
    reason: str = ""


@attrs.define
class BlockOut:
    network: str
    reason: str
    created: str
    created_by: str
    expires: str | None
    automatic: bool
    seconds_left: float | None
