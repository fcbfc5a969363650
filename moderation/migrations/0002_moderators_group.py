from django.contrib.auth.management import create_permissions
from django.db import migrations

MODERATORS = "Moderators"

# Just what working the report queue needs: see people, rooms and recordings (and who follows,
# blocks and notifies whom, to judge harassment and spam reports); work reports; read the audit
# log. Acting on accounts and rooms goes through admin actions that check these.
PERMISSIONS = [
    ("moderation", "view_report"),
    ("moderation", "change_report"),
    ("moderation", "view_auditlogentry"),
    ("accounts", "view_user"),
    ("accounts", "change_user"),
    ("accounts", "view_follow"),
    ("accounts", "view_block"),
    ("accounts", "view_notification"),
    ("rooms", "view_room"),
    ("rooms", "change_room"),
    ("rooms", "view_roomtopic"),
    ("rooms", "view_participant"),
    ("rooms", "view_tag"),
    ("recordings", "view_recording"),
    ("recordings", "change_recording"),
]


def create_moderators_group(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=MODERATORS)
    for app_label, codename in PERMISSIONS:
        permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
        group.permissions.add(permission)


def remove_moderators_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=MODERATORS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0001_initial"),
        ("accounts", "0001_initial"),
        ("rooms", "0001_initial"),
        ("recordings", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_moderators_group, remove_moderators_group)]
