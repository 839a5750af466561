"""The course's classroom: a JupyterHub with nbgrader's exchange on one machine.

``python -m classroom`` (``make classroom``) prepares the accounts and folders and starts the
hub; ``jupyterhub_config.py`` is the hub's configuration; ``config/`` holds what each role's
JupyterLab loads (nbgrader's exchange for everyone, formgrader for instructors only). See
README.md beside this file.
"""
