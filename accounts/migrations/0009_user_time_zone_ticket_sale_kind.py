# A person's time zone (issue 28, item 7) and the host's ticket sales as a kind of notification
# (issue 28, item 4).

from django.db import migrations, models

import accounts.validators

KINDS = [
    ("reminder", "Reminders"),
    ("host_live", "People you follow going live"),
    ("room_invite", "Invitations to rooms"),
    ("speak_invite", "Invitations to speak"),
    ("recording_ready", "Recordings published"),
    ("new_follower", "New followers"),
    ("ticket", "Your tickets: refunds and changed times"),
    ("ticket_sale", "Tickets sold and refunded for your rooms"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_push_subscriptions"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="time_zone",
            field=models.CharField(
                default="UTC", max_length=64, validators=[accounts.validators.validate_time_zone]
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(choices=KINDS, max_length=32),
        ),
        migrations.AlterField(
            model_name="notificationpreference",
            name="kind",
            field=models.CharField(choices=KINDS, max_length=32),
        ),
    ]
