"""The page's corrections: edit a segment, restore one or all, find and replace, undo.

Every change goes through `services.edits` (jobs/edits.py), the same object the API
uses, so the page refuses what the API refuses with the same words. What only the page
has is undo: a stack per owner of groups of changes (a find-and-replace is one group),
each remembering how the segments looked before, so undoing puts back a person's own
earlier correction, not just the model's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from whisper_ui.domain import JobStateError
from whisper_ui.jobs.edits import EditError, EditNotSaved, Edits, NoSuchJob, SegmentView

UNDO_DEPTH = 50  # groups kept per owner
MAX_FIND_CHARS = 200


@dataclass
class _Group:
    """One undoable step: the segments it changed, as they were before it."""

    job_id: str
    before: list[SegmentView] = field(default_factory=list)


class Corrections:
    """The page's actions on a finished job's transcript; returns what to tell the person."""

    def __init__(self, edits: Edits) -> None:
        self.edits = edits
        self._undo: dict[str, list[_Group]] = {}

    def act(self, owner: str, job_id: str, name: str, asked: dict[str, Any]) -> str:
        """Do `asked["action"]` (edit, times, restore, restore-all, replace, undo, rename) on
        `owner`'s job; the message for the status line (plain text; the caller escapes it)."""
        verb = str(asked.get("action", ""))
        try:
            if verb == "edit":
                return self._edit(owner, job_id, asked)
            if verb == "times":
                return self._times(owner, job_id, asked)
            if verb == "restore":
                return self._restore(owner, job_id, int(asked.get("segment", -1)))
            if verb == "restore-all":
                return self._restore_all(owner, job_id)
            if verb == "replace":
                return self._replace(owner, job_id, asked)
            if verb == "undo":
                return self._undo_last(owner, job_id)
            if verb == "rename":
                return self._rename(owner, job_id, asked)
        except (EditError, JobStateError, EditNotSaved) as exc:
            return f"Not changed: {exc}"
        except NoSuchJob:
            return "That file is no longer in the list."
        except (TypeError, ValueError):
            return "Not changed: that correction could not be read."
        return "Unknown action."

    def _views(self, owner: str, job_id: str) -> dict[int, SegmentView]:
        return {v.segment.id: v for v in self.edits.segments(job_id, owner=owner)}

    def _push(self, owner: str, group: _Group) -> None:
        if group.before:
            stack = self._undo.setdefault(owner, [])
            stack.append(group)
            del stack[:-UNDO_DEPTH]

    def _edit(self, owner: str, job_id: str, asked: dict[str, Any]) -> str:
        changes = {"text": str(asked["text"])}
        return self._change(owner, job_id, int(asked["segment"]), changes, "Saved.")

    def _times(self, owner: str, job_id: str, asked: dict[str, Any]) -> str:
        # NaN (a time that could not be read) is refused by the rules, nothing changed
        changes: dict[str, Any] = {"start": float(asked["start"]), "end": float(asked["end"])}
        saved = "Saved the times."
        if asked.get("speaker"):
            changes["speaker"] = str(asked["speaker"])
            saved = "Saved."
        return self._change(owner, job_id, int(asked["segment"]), changes, saved)

    def _change(
        self, owner: str, job_id: str, segment: int, changes: dict[str, Any], saved: str
    ) -> str:
        """Apply one segment's changes, undoable; `saved` is said unless it restored."""
        before = self._views(owner, job_id).get(segment)
        view = self.edits.apply(job_id, segment, owner=owner, **changes)
        if before is not None and before.segment != view.segment:
            self._push(owner, _Group(job_id, [before]))
        return saved if view.edited else "Restored what the model wrote."

    def _restore(self, owner: str, job_id: str, segment: int) -> str:
        before = self._views(owner, job_id).get(segment)
        self.edits.restore(job_id, segment, owner=owner)
        if before is not None and before.edited:
            self._push(owner, _Group(job_id, [before]))
        return "Restored what the model wrote."

    def _restore_all(self, owner: str, job_id: str) -> str:
        before = [v for v in self._views(owner, job_id).values() if v.edited]
        restored = self.edits.restore_all(job_id, owner=owner)
        self._push(owner, _Group(job_id, before))
        count = len(restored)
        return f"Restored {_segments(count)}."

    def _replace(self, owner: str, job_id: str, asked: dict[str, Any]) -> str:
        find, replace = str(asked.get("find", "")), str(asked.get("replace", ""))
        if not find.strip():
            return "Type what to find first."
        if len(find) > MAX_FIND_CHARS or len(replace) > MAX_FIND_CHARS:
            return f"Not changed: find and replace take at most {MAX_FIND_CHARS} characters."
        flags = 0 if asked.get("match_case") else re.IGNORECASE
        pattern = re.compile(re.escape(find), flags)
        group = _Group(job_id)
        hits = 0
        try:
            for view in self._views(owner, job_id).values():
                text = view.segment.text
                new, n = pattern.subn(lambda _m: replace, text)
                if not n:
                    continue
                self.edits.apply(job_id, view.segment.id, text=new, owner=owner)
                group.before.append(view)
                hits += n
        finally:
            self._push(owner, group)  # what did change can be undone, even after an error
        if not hits:
            return f"“{find}” is not in this transcript."
        return f"Replaced {hits} × “{find}” in {_segments(len(group.before))}."

    def _rename(self, owner: str, job_id: str, asked: dict[str, Any]) -> str:
        speaker, name = str(asked["speaker"]), " ".join(str(asked.get("name", "")).split())
        labels = self.edits.rename_speaker(job_id, speaker, name, owner=owner)
        if not name:
            return f"{speaker} is {', '.join(labels)} again."
        return f"{speaker} is now {name} in the whole file."

    def _undo_last(self, owner: str, job_id: str) -> str:
        stack = self._undo.get(owner, [])
        index = next((i for i in range(len(stack) - 1, -1, -1) if stack[i].job_id == job_id), None)
        if index is None:
            return "Nothing to undo in this file."
        group = stack.pop(index)
        for before in reversed(group.before):
            if before.edited:
                s = before.segment
                self.edits.apply(
                    job_id, s.id, text=s.text, start=s.start, end=s.end, speaker=s.speaker,
                    owner=owner,
                )  # fmt: skip
            else:
                self.edits.restore(job_id, before.segment.id, owner=owner)
        count = len(group.before)
        return f"Undone ({_segments(count)})."


def _segments(n: int) -> str:
    return f"{n} {'segment' if n == 1 else 'segments'}"
