"""The standing attack suite: every security finding of issue 10 as a test.

Fixtures are shared with the API and web UI suites (an app on ``db_url`` with keys, users of each
role). All traffic goes to loopback addresses the tests start themselves.
"""

from __future__ import annotations

from api.conftest import admin_key, client, make_client  # noqa: F401
from web.conftest import role_users, web_app, web_factory  # noqa: F401
