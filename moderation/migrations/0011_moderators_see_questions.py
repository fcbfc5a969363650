from django.contrib.auth.management import create_permissions
from django.db import migrations

MODERATORS = "Moderators"
# Moderators read the questions of a room's Q&A queue (a reported question links to its page); they
# take one down with the report queue's action, which calls the moderation service.
PERMISSIONS = [("rooms", "view_question")]


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
        ("moderation", "0010_report_question"),
        ("rooms", "0007_qa_and_backstage"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
