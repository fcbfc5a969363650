"""Print a new VAPID key pair for Web Push, as lines for the environment file (docs/push.md)."""

from django.core.management.base import BaseCommand

from spaces_project.vapid import new_pair


class Command(BaseCommand):
    help = (
        "Print a new VAPID key pair for Web Push (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY). Make it once and "
        "keep it: a new pair cuts off every device that turned push on."
    )

    def handle(self, *args, **options) -> None:
        pair = new_pair()
        self.stdout.write(f"VAPID_PUBLIC_KEY={pair.public_key}")
        self.stdout.write(f"VAPID_PRIVATE_KEY={pair.private_key}")
