"""A slow mail server for worker tests: each message takes a while, then goes to a file."""

import os
import time

from django.core.mail.backends.filebased import EmailBackend


class SlowFileBackend(EmailBackend):
    """Django's file backend, waiting SLOW_MAIL_SECONDS before writing each message (the time an SMTP
    server takes), so that a test can kill the worker between two messages."""

    def send_messages(self, email_messages):
        time.sleep(float(os.environ.get("SLOW_MAIL_SECONDS", "1")))
        return super().send_messages(email_messages)
