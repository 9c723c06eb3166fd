"""The WSGI entry for production: `gunicorn -c app/gunicorn_conf.py app.wsgi:server`.

Settings come from the environment and .env like everywhere else.
"""
from app import create_app

app = create_app()
server = app.server
