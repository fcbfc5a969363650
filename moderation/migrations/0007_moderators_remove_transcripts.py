from django.contrib.auth.management import create_permissions
from django.db import migrations

MODERATORS = "Moderators"
# Moderators read transcripts (what was said is what a report is often about) and remove them.
PERMISSIONS = [
    ("recordings", "view_transcript"),
    ("recordings", "change_transcript"),
    ("recordings", "view_transcriptline"),
]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=MODERATORS)
    for app_label, codename in PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=MODERATORS).first()
    if group is not None:
        for app_label, codename in PERMISSIONS:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0006_report_reasons_limits"),
        ("recordings", "0004_transcripts"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
