"""Fills a freshly bootstrapped Keystone for the Swift driver's tests.

tools/swift.sh keystone runs this after `keystone-manage bootstrap`. Through
Keystone's v3 API (as admin) it creates what a cloud gives a Zuul operator:
a user and a project in two domains of their own (so that a client sending
only the default domain fails), the member role on the project, the
object-store service with endpoints in the catalog, and an application
credential of the user. Then, as that user and through the Keystone-enabled
Swift proxy, it creates the test container and the account's TempURL key.
It prints shell assignments (KEYSTONE_*) on stdout.

The catalog: region RegionOne has public and internal endpoints on the
proxy and an admin endpoint on a dead port; region RegionTwo has only dead
endpoints. A driver that ignores region or interface fails.

Input (environment): KS_URL (http://127.0.0.1:PORT/v3), KS_ADMIN_PASSWORD,
KS_PROXY (http://127.0.0.1:PORT of the proxy), KS_CONTAINER, KS_TEMPURL_KEY.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

KS = os.environ["KS_URL"].rstrip("/")
PROXY = os.environ["KS_PROXY"].rstrip("/")
DEAD = "http://127.0.0.1:1"
USER, PASSWORD = "zuul", "zuul-secret"
USER_DOMAIN, PROJECT_DOMAIN, PROJECT = "shadowreg-users", "shadowreg-projects", "ci"


def call(method, url, body=None, token=None, headers=None, ok=(200, 201, 202, 204)):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", str(token))
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, resp.headers, (json.loads(raw) if raw and resp.headers.get_content_type() == "application/json" else None)
    except urllib.error.HTTPError as e:
        if e.code in ok:
            return e.code, e.headers, None
        sys.exit(f"{method} {url}: HTTP {e.code}: {e.read()[:500]!r}")


class Token:
    """A project-scoped password token, renewed when a few seconds old: the
    tests run Keystone with tokens that live only seconds, fewer than this
    script may take on a loaded machine."""

    def __init__(self, user, password, user_domain, project, project_domain):
        self.body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "password": password, "domain": {"name": user_domain}}}},
            "scope": {"project": {"name": project, "domain": {"name": project_domain}}},
        }}
        self.issued = 0.0

    def __str__(self):
        if time.monotonic() - self.issued > 3:
            _, headers, _ = call("POST", KS + "/auth/tokens", self.body)
            self.token, self.issued = headers["X-Subject-Token"], time.monotonic()
        return self.token


def create(admin, kind, body):
    """POST /v3/<kind>s {kind: body}: the new object."""
    _, _, reply = call("POST", f"{KS}/{kind}s", {kind: body}, admin)
    return reply[kind]


def main():
    admin = Token("admin", os.environ["KS_ADMIN_PASSWORD"], "Default", "admin", "Default")
    udom = create(admin, "domain", {"name": USER_DOMAIN})
    pdom = create(admin, "domain", {"name": PROJECT_DOMAIN})
    project = create(admin, "project", {"name": PROJECT, "domain_id": pdom["id"]})
    user = create(admin, "user", {"name": USER, "password": PASSWORD, "domain_id": udom["id"]})
    _, _, roles = call("GET", KS + "/roles?name=member", token=admin)
    role = roles["roles"][0]["id"]
    call("PUT", f"{KS}/projects/{project['id']}/users/{user['id']}/roles/{role}", token=admin)

    create(admin, "region", {"id": "RegionTwo"})
    service = create(admin, "service", {"type": "object-store", "name": "swift"})
    path = "/v1/AUTH_$(project_id)s"
    for region, interface, base in (("RegionOne", "public", PROXY), ("RegionOne", "internal", PROXY),
                                     ("RegionOne", "admin", DEAD), ("RegionTwo", "public", DEAD),
                                     ("RegionTwo", "internal", DEAD)):
        create(admin, "endpoint", {"service_id": service["id"], "region_id": region,
                                   "interface": interface, "url": base + path})

    tok = Token(USER, PASSWORD, USER_DOMAIN, PROJECT, PROJECT_DOMAIN)
    _, _, reply = call("POST", f"{KS}/users/{user['id']}/application_credentials",
                       {"application_credential": {"name": "shadowreg-test"}}, tok)
    cred = reply["application_credential"]

    storage = f"{PROXY}/v1/AUTH_{project['id']}"
    container = os.environ["KS_CONTAINER"]
    # The storage servers answer 503 for a moment after the proxy came up.
    for attempt in range(100):
        status, _, _ = call("PUT", f"{storage}/{container}", token=tok, headers={"Content-Length": "0"},
                            ok=(201, 202, 503))
        if status != 503:
            break
        time.sleep(0.1)
    else:
        sys.exit(f"PUT {storage}/{container}: still 503")
    call("POST", storage, token=tok, headers={"X-Account-Meta-Temp-URL-Key": os.environ["KS_TEMPURL_KEY"],
                                              "Content-Length": "0"})
    # The token must really be Keystone's: the proxy refuses a made-up one.
    status, _, _ = call("HEAD", f"{storage}/{container}", token="not-a-token", ok=(401,))
    if status != 401:
        sys.exit(f"HEAD with a made-up token: HTTP {status}, want 401 (is keystoneauth in the pipeline?)")

    for k, v in (("KEYSTONE_AUTH_URL", KS), ("KEYSTONE_USER", USER), ("KEYSTONE_PASSWORD", PASSWORD),
                 ("KEYSTONE_USER_DOMAIN", USER_DOMAIN), ("KEYSTONE_USER_ID", user["id"]),
                 ("KEYSTONE_PROJECT", PROJECT), ("KEYSTONE_PROJECT_DOMAIN", PROJECT_DOMAIN),
                 ("KEYSTONE_PROJECT_ID", project["id"]), ("KEYSTONE_REGION", "RegionOne"),
                 ("KEYSTONE_APP_CRED_ID", cred["id"]), ("KEYSTONE_APP_CRED_NAME", cred["name"]),
                 ("KEYSTONE_APP_CRED_SECRET", cred["secret"]), ("KEYSTONE_STORAGE_URL", storage),
                 ("KEYSTONE_CONTAINER", container)):
        print(f"{k}={v}")


if __name__ == "__main__":
    main()
