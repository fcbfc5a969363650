"""WSGI entry point, for serving pages from a separate WSGI pool in production."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.local")

application = get_wsgi_application()
