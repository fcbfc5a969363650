"""Where the live machinery runs, chosen by whether Redis is configured (``settings.AUDIO_MIXER``).

``external`` (Redis): ``manage.py run_mixer`` and ``run_captioner`` processes hold the rooms; ``embedded``
(no Redis): the web process mixes its rooms itself and starts a child process for captions.
"""

from django.conf import settings


def mixer_mode() -> str:
    return getattr(settings, "AUDIO_MIXER", "") or ("external" if settings.REDIS_URL else "embedded")
