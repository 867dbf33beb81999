"""Administration (admins only): the index, users (create, change role, disable or enable, reset
the password) and every user's API keys (revoke).

The accounts service is the API's (``api/accounts.py``) with the API's tenant rule: a tenant's
admin sees and changes its tenant's users and keys, the deployment's admin (no tenant) everyone's.
Each change is audited by the guard like the API's, with the same targets (``user:<name>``,
``key:<id>``) and details. A role change applies to the user's next page at once: sessions read
the role from the accounts on every request, and ``update_user`` forgets the remembered grants.
A new password ends the user's sessions (they keep a fingerprint of the password they began with).
"""

from __future__ import annotations

import secrets

from aiohttp import web

from paperchain_sdk import PaperchainError
from paperchain_sdk.web import ROLES

from ...api.accounts import NAME, TENANT
from ...api.guard import AUDIT_DETAILS, AUDIT_TARGET, STATE
from ...api.security.passwords import password_problem
from ..guard import PageError, page
from ..render import render


def _accounts(request):
    return request.app[STATE].accounts


@page(role="admin")
async def index(request, ctx):
    return render(request, ctx, "admin.html")


# -- users ------------------------------------------------------------------------------------------


def _users(request, ctx) -> list[dict]:
    accounts = _accounts(request)
    return sorted((accounts.public(u) for u in accounts.users.values() if accounts.manages(ctx.who, u["tenant"])),
                  key=lambda u: u["name"])


def _keys(request, ctx) -> list[dict]:
    accounts = _accounts(request)
    keys = sorted((k for k in accounts.keys.values() if accounts.may_see_key(ctx.who, k)),
                  key=lambda k: k.created, reverse=True)
    return [{**accounts.key_view(k), "tenant": k.tenant} for k in keys]


def _users_page(request, ctx, *, status: int = 200, errors: dict | None = None, form: dict | None = None,
                notice: str = "", new_password: dict | None = None) -> web.Response:
    return render(request, ctx, "admin_users.html", status=status, users=_users(request, ctx), keys=_keys(request, ctx),
                  roles=ROLES, errors=errors or {}, form=form or {}, notice=notice, new_password=new_password)


def _managed_user(request, ctx, name: str) -> dict:
    """The user ``name`` if this admin manages it; another tenant's is as absent as a missing one."""
    accounts = _accounts(request)
    user = accounts.users.get(name)
    if user is None or not accounts.manages(ctx.who, user["tenant"]):
        raise PageError(404, ctx.gettext("There is no user %(name)s.") % {"name": name})
    return user


def password_error(ctx, password: str, name: str, policy) -> str | None:
    """Why the password policy (the API's) refuses ``password``, in the page's language."""
    problem = password_problem(password, username=name, min_length=policy.password_min_length,
                               max_length=policy.password_max_length)
    if problem is None:
        return None
    message = problem[0]
    gettext = ctx.gettext
    if message.startswith("the password must have at least"):
        return gettext("The password needs at least %(n)s characters (it has %(has)s). A few unrelated words make a "
                       "long password that is easy to remember.") % {"n": policy.password_min_length,
                                                                     "has": len(password)}
    if message.startswith("the password must have at most"):
        return gettext("The password may have at most %(n)s characters.") % {"n": policy.password_max_length}
    if "user name" in message:
        return gettext("The password must not be the user name, nor the name with a few characters added.")
    if "repeats" in message:
        return gettext("The password repeats a short piece or is a run of consecutive characters; choose one "
                       "that is not a pattern.")
    if "too common" in message:
        return gettext("The password is too common: it is in lists of breached passwords (or is one with digits "
                       "or symbols added). Choose another.")
    return message


def _policy(request):
    return _accounts(request).security.settings


def _new_user_errors(request, ctx, form: dict) -> dict:
    """Each field's problem, checked as ``Accounts.create_user`` checks them, worded for the page."""
    accounts, gettext, errors = _accounts(request), ctx.gettext, {}
    name, role, tenant = form["name"], form["role"], form["tenant"]
    if not NAME.match(name):
        errors["name"] = gettext("Use 1 to 64 letters, digits, '_', '.', '@' or '-'.")
    elif name in accounts.users:
        errors["name"] = gettext("There is a user %(name)s already; choose another name.") % {"name": name}
    if role not in ROLES:
        errors["role"] = gettext("%(role)s is not a role; choose one of %(roles)s.") % {
            "role": role or "''", "roles": ", ".join(ROLES)}
    if ctx.who.tenant and tenant and tenant != ctx.who.tenant:
        errors["tenant"] = gettext("You create users only in your tenant, %(tenant)s.") % {"tenant": ctx.who.tenant}
    elif tenant and not TENANT.match(tenant):
        errors["tenant"] = gettext("A tenant's name has 1 to 64 letters, digits, '_', '.', '@' or '-' (no ':').")
    problem = password_error(ctx, form["password"], name, _policy(request))
    if problem:
        errors["password"] = problem
    return errors


@page(role="admin")
async def users(request, ctx):
    return _users_page(request, ctx)


@page(role="admin")
async def create_user(request, ctx):
    posted = await request.post()
    form = {field: str(posted.get(field, "")).strip() for field in ("name", "role", "tenant")}
    form["password"] = str(posted.get("password", ""))
    request[AUDIT_TARGET] = f"user:{form['name']}"
    request[AUDIT_DETAILS] = {"role": form["role"]}
    errors = _new_user_errors(request, ctx, form)
    if errors:
        return _users_page(request, ctx, status=400, errors=errors, form={**form, "password": ""})
    try:
        await _accounts(request).create_user(form["name"], form["password"], form["role"], form["tenant"], by=ctx.who)
    except PaperchainError as exc:  # e.g. the same name created meanwhile
        return _users_page(request, ctx, status=400, errors={"name": str(exc)}, form={**form, "password": ""})
    return _users_page(request, ctx, notice=ctx.gettext("The user %(name)s was created.") % {"name": form["name"]})


def _not_yourself(ctx, name: str) -> None:
    if name == ctx.who.name:  # the API's rule: no admin might be left
        raise PageError(409, ctx.gettext("You cannot disable or demote yourself: no admin might be left. Ask "
                                         "another admin to do it."), title=ctx.gettext("Not allowed"))


@page(role="admin")
async def change_role(request, ctx):
    name = request.match_info["name"]
    role = str((await request.post()).get("role", ""))
    request[AUDIT_TARGET] = f"user:{name}"  # set first, as the API does: a refusal is audited with it
    request[AUDIT_DETAILS] = {"role": role}
    user = _managed_user(request, ctx, name)
    if role not in ROLES:
        error = ctx.gettext("%(role)s is not a role; choose one of %(roles)s.") % {"role": role or "''",
                                                                                   "roles": ", ".join(ROLES)}
        return _users_page(request, ctx, status=400, errors={f"role:{name}": error})
    if role != "admin":
        _not_yourself(ctx, name)
    await _accounts(request).update_user(user["name"], role=role, by=ctx.who)
    raise web.HTTPSeeOther("/admin/users")


@page(role="admin")
async def set_disabled(request, ctx):
    name = request.match_info["name"]
    disabled = str((await request.post()).get("disabled", "")) == "1"
    request[AUDIT_TARGET] = f"user:{name}"
    request[AUDIT_DETAILS] = {"disabled": disabled}
    user = _managed_user(request, ctx, name)
    if disabled:
        _not_yourself(ctx, name)
    await _accounts(request).update_user(user["name"], disabled=disabled, by=ctx.who)
    raise web.HTTPSeeOther("/admin/users")


def _generated_password(name: str, policy) -> str:
    while True:  # a random one passes the policy all but always; checked all the same
        password = secrets.token_urlsafe(max(18, policy.password_min_length))
        if password_problem(password, username=name, min_length=policy.password_min_length,
                            max_length=policy.password_max_length) is None:
            return password


@page(role="admin")
async def reset_password(request, ctx):
    """Set the password the admin typed, or make one and show it once. Either ends the user's sessions."""
    name = request.match_info["name"]
    typed = str((await request.post()).get("password", ""))
    request[AUDIT_TARGET] = f"user:{name}"
    request[AUDIT_DETAILS] = {"password": True}
    user = _managed_user(request, ctx, name)
    policy = _policy(request)
    if typed:
        problem = password_error(ctx, typed, name, policy)
        if problem:
            return _users_page(request, ctx, status=400, errors={f"password:{name}": problem})
    password = typed or _generated_password(name, policy)
    await _accounts(request).update_user(user["name"], password=password, by=ctx.who)
    shown = None if typed else {"name": name, "password": password}
    return _users_page(request, ctx, new_password=shown, notice=ctx.gettext(
        "The password of %(name)s was changed; their sessions have ended.") % {"name": name})


# -- API keys of every user ---------------------------------------------------------------------------


@page(role="admin")
async def revoke_key(request, ctx):
    key_id = request.match_info["id"]
    request[AUDIT_TARGET] = f"key:{key_id}"
    accounts = _accounts(request)
    record = accounts.keys.get(key_id)
    if record is None or not accounts.may_see_key(ctx.who, record):
        raise PageError(404, ctx.gettext("There is no API key %(id)s.") % {"id": key_id})
    await accounts.revoke_key(key_id, ctx.who)
    raise web.HTTPSeeOther("/admin/users#keys")


PAGES = [
    ("GET", "/admin", index),
    ("GET", "/admin/users", users),
    ("POST", "/admin/users", create_user),
    ("POST", "/admin/users/{name}/role", change_role),
    ("POST", "/admin/users/{name}/disabled", set_disabled),
    ("POST", "/admin/users/{name}/password", reset_password),
    ("POST", "/admin/keys/{id}/revoke", revoke_key),
]
