"""JupyterHub for the lrlab course on one machine (``make classroom`` / ``python -m classroom``).

The hub and configurable-http-proxy listen on 127.0.0.1 only. Each user's server has its own
origin, ``http://NAME.localhost:PORT`` (JupyterHub subdomains; browsers resolve ``*.localhost``
to loopback): that is what lets the formgrader's frame load under JupyterHub >= 4.1, whose
single-user servers send ``frame-ancestors 'none'`` unless told otherwise (nbgrader#1870), without
letting one user's pages frame another's. As root, servers run as the users' own Unix accounts.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from classroom.settings import Settings  # noqa: E402

s = Settings.from_env()
c = get_config()  # noqa: F821

# --- the hub, its proxy and their state ---------------------------------------------------
c.JupyterHub.bind_url = f"http://127.0.0.1:{s.port}"
c.JupyterHub.subdomain_host = s.url
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{s.port + 1}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s.port + 2}"
c.ConfigurableHTTPProxy.command = [str(s.proxy)]
c.ConfigurableHTTPProxy.pid_file = str(s.state / "proxy.pid")
c.JupyterHub.pid_file = str(s.state / "jupyterhub.pid")
c.JupyterHub.db_url = f"sqlite:///{s.state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(s.state / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True          # stopping the hub stops every user's server

# --- who logs in, and as whom their server runs --------------------------------------------
c.Authenticator.allowed_users = set(s.users)
if s.real_users:
    c.JupyterHub.authenticator_class = "pam"              # the accounts' Unix passwords
    c.JupyterHub.spawner_class = "localprocess"           # the server runs as that account
else:
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = (s.state / "password.txt").read_text().strip()
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(s.state / "homes" / "{username}")

# --- each user's server: JupyterLab from the course environment, nbgrader tools by role --
c.Spawner.cmd = [str(s.env / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120                # a class logging in at once on a small machine
c.Spawner.http_timeout = 120


def _role_environment(spawner):
    spawner.environment.update(s.environment(spawner.user.name))


c.Spawner.pre_spawn_hook = _role_environment
