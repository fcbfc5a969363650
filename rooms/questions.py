"""The Q&A queue's writes live in rooms/services/questions.py; re-exported here under the names
other code uses (``rooms.questions.question_ask``)."""

from .services.questions import (
    QUESTION_WINDOW,
    clean_question_text,
    question_answer,
    question_ask,
    question_dismiss,
    question_done,
    question_force_remove,
    question_invite_asker,
    question_remove,
    question_unvote,
    question_vote,
    question_withdraw,
    room_set_qa,
)

__all__ = [
    "QUESTION_WINDOW",
    "clean_question_text",
    "question_answer",
    "question_ask",
    "question_dismiss",
    "question_done",
    "question_force_remove",
    "question_invite_asker",
    "question_remove",
    "question_unvote",
    "question_vote",
    "question_withdraw",
    "room_set_qa",
]
