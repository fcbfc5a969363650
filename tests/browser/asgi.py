"""The site's ASGI application with static files, for the daphne that browser tests run.

Test settings have DEBUG off, so Django serves no static files itself; like channels'
ChannelsLiveServerTestCase, wrap the application so that pages get their CSS and JavaScript.
"""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from spaces_project.asgi import application as site_application

application = ASGIStaticFilesHandler(site_application)
