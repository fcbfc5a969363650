"""Every write about people. Views, consumers, admin actions, tasks and the other apps call these.

One module per domain; this package re-exports their public functions, so callers write
``accounts.services.notify`` whichever module holds it:

- ``profile``: name, bio, avatar and time zone, and ``require_not_suspended``;
- ``graph``: follows and blocks;
- ``notifications``: ``notify``, live delivery, the person's choices; ``emails``: their emails and
  one-click unsubscribe;
- ``push``: a person's devices for Web Push, and each notification pushed to each device once;
- ``sessions``: signing out everywhere, a changed password, suspension;
- ``privacy``: the data archive and deleting an account.

What the apps above accounts do when a person is blocked, signed out, suspended or deleted is
registered with accounts/hooks.py; these services call it.
"""

from .emails import (
    UNSUBSCRIBE_SALT,
    notification_emails_give_up,
    notification_emails_send,
    notification_unsubscribe,
    unsubscribe_check,
    unsubscribe_token,
)
from .graph import block_create, block_delete, follow_create, follow_delete
from .notifications import (
    EMAILS_PER_TASK,
    NOTIFY_CHUNK,
    notification_preferences_set,
    notifications_mark_read,
    notifications_mark_seen,
    notifications_push,
    notify,
)
from .privacy import (
    data_export_build,
    data_export_directory,
    data_export_give_up,
    data_export_name,
    data_export_purge_expired,
    data_export_request,
    user_delete_account,
)
from .profile import (
    require_not_suspended,
    user_edit_profile,
    user_remove_avatar,
    user_set_avatar,
    user_set_language,
    user_set_time_zone,
    user_update_profile,
)
from .push import (
    PushRetry,
    push_deliveries_purge,
    push_deliveries_queue,
    push_delivery_give_up,
    push_delivery_send,
    push_subscription_delete,
    push_subscription_save,
    push_subscriptions_delete_all,
    push_subscriptions_sign_out,
)
from .sessions import (
    Suspension,
    user_lift_suspension_if_over,
    user_password_changed,
    user_sign_out_everywhere,
    user_suspend,
    user_unsuspend,
    users_lift_expired_suspensions,
)

__all__ = [
    "EMAILS_PER_TASK",
    "NOTIFY_CHUNK",
    "UNSUBSCRIBE_SALT",
    "PushRetry",
    "Suspension",
    "block_create",
    "block_delete",
    "data_export_build",
    "data_export_directory",
    "data_export_name",
    "data_export_give_up",
    "data_export_purge_expired",
    "data_export_request",
    "follow_create",
    "follow_delete",
    "notification_emails_give_up",
    "notification_emails_send",
    "notification_preferences_set",
    "notification_unsubscribe",
    "notifications_mark_read",
    "notifications_mark_seen",
    "notifications_push",
    "notify",
    "push_deliveries_purge",
    "push_deliveries_queue",
    "push_delivery_give_up",
    "push_delivery_send",
    "push_subscription_delete",
    "push_subscription_save",
    "push_subscriptions_delete_all",
    "push_subscriptions_sign_out",
    "require_not_suspended",
    "unsubscribe_check",
    "unsubscribe_token",
    "user_delete_account",
    "user_edit_profile",
    "user_lift_suspension_if_over",
    "user_password_changed",
    "user_remove_avatar",
    "user_set_avatar",
    "user_set_language",
    "user_set_time_zone",
    "user_sign_out_everywhere",
    "user_suspend",
    "user_unsuspend",
    "user_update_profile",
    "users_lift_expired_suspensions",
]
