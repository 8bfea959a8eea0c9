"""``dagcore gc``: remove what finished runs leave in Redis, and give every dagcore key a TTL.

``dagcore gc [--older-than 1d] [--dry-run] [--json]`` walks the keys under ``[celery]
key_prefix`` with ``SCAN`` (never ``KEYS``) and

* deletes the keys of runs that ended (meta status not ``RUNNING``) at least ``--older-than``
  ago, and of *orphaned* runs, whose meta key is gone while other keys of theirs remain, once
  their last write is that old too (and never younger than :data:`ORPHAN_GRACE_SECONDS`: a run
  being created writes its meta last);
* gives the run TTL (:data:`celery_app.keys.DEFAULT_TTL_SECONDS`) to every dagcore key that has
  none, except the history streams (:data:`UNEXPIRED_SUFFIXES`), which their writer trims;
* removes the members of shared sets and lists that name runs gone from Redis: ``P:runs``,
  ``P:woken`` and ``P:claimwait:*``;
* prints what it did, per kind (``--json``: as an object); ``--dry-run`` changes nothing.

A run's end time is its meta's ``ended`` field, else its last progress event, else ``created``.
An orphan's last write is read from its keys' remaining TTL: every write refreshes it to the
run TTL. Deletions and removals re-check their condition inside a Lua script, so a run that
starts or changes while gc runs is never touched. Keys outside the prefix (Celery's queues,
``_kombu.*``, other deployments) are never read or written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn

from redis import Redis
from redis.exceptions import RedisError

from celery_app.connection import redact, redis_client
from celery_app.keys import DEFAULT_TTL_SECONDS, Keys
from dagcore.configuration.settings import Settings
from dagcore.errors import ConfigError, DagcoreError

__all__ = [
    "ORPHAN_GRACE_SECONDS",
    "UNEXPIRED_SUFFIXES",
    "GarbageCollector",
    "GcReport",
    "format_duration",
    "main",
    "parse_duration",
]

ORPHAN_GRACE_SECONDS = 300
"""Orphaned run keys younger than this are kept whatever ``--older-than`` says."""

UNEXPIRED_SUFFIXES = ("history", "history:dead")
"""Keys (after ``P:``) allowed to live without a TTL: streams their writers trim or cap."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\d+[smhdw])+")
_DURATION_HELP = "a duration such as 30m, 12h, 1d or 1d12h (units s, m, h, d, w), or 0"
_BATCH = 500
_RUN_KEY = re.compile(rb"^run:\{(.+)\}:([A-Za-z_]+)$")

# KEYS: a run's keys (meta first). ARGV: mode, max TTL left. "ended": delete if the meta says
# the run is not running. "orphan": delete if there is no meta and no key was written later
# than its TTL says (no TTL counts as old). Returns how many keys were deleted.
_DELETE_RUN = """
if ARGV[1] == 'ended' then
  local status = redis.call('HGET', KEYS[1], 'status')
  if not status or status == 'RUNNING' then
    return 0
  end
else
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
  end
  for _, key in ipairs(KEYS) do
    if redis.call('TTL', key) > tonumber(ARGV[2]) then
      return 0
    end
  end
end
return redis.call('UNLINK', unpack(KEYS))
"""

# KEYS: a set or list, then the seven keys of each run id in ARGV[2..]. ARGV[1]: 'set' or
# 'list'. Removes the run ids none of whose keys exist; returns how many entries went.
_PRUNE = """
local removed = 0
for i = 2, #ARGV do
  local base = 1 + (i - 2) * 7
  local gone = true
  for k = base + 1, base + 7 do
    if redis.call('EXISTS', KEYS[k]) == 1 then
      gone = false
      break
    end
  end
  if gone then
    if ARGV[1] == 'set' then
      removed = removed + redis.call('SREM', KEYS[1], ARGV[i])
    else
      removed = removed + redis.call('LREM', KEYS[1], 0, ARGV[i])
    end
  end
end
return removed
"""

# KEYS: keys to give a TTL. ARGV[1]: the TTL. Only keys without one get it (a key written
# meanwhile keeps the TTL its writer gave). Returns the keys changed.
_EXPIRE_MISSING = """
local changed = {}
for _, key in ipairs(KEYS) do
  if redis.call('TTL', key) == -1 then
    redis.call('EXPIRE', key, ARGV[1])
    changed[#changed + 1] = key
  end
end
return changed
"""


# -- durations ---------------------------------------------------------------------------------


def parse_duration(text: str) -> int:
    """``30m``, ``12h``, ``1d``, ``1d12h``, ``2w`` or ``0``, in seconds.

    Raises:
        ConfigError: anything else; the message gives the accepted format.
    """
    cleaned = text.strip().lower()
    if cleaned == "0":
        return 0
    if not _DURATION.fullmatch(cleaned):
        raise ConfigError(f"--older-than {text!r}: expected {_DURATION_HELP}")
    return sum(
        int(number) * _UNITS[unit] for number, unit in re.findall(r"(\d+)([smhdw])", cleaned)
    )


def format_duration(seconds: float) -> str:
    """``86400`` -> ``1d``, ``5400`` -> ``1h30m``; ``0`` -> ``0s``."""
    left, parts = int(seconds), []
    for unit in ("w", "d", "h", "m", "s"):
        count, left = divmod(left, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


# -- the collector -----------------------------------------------------------------------------


@dataclass
class GcReport:
    """What one pass found and did (or, in a dry run, would do).

    Attributes:
        prefix: The key prefix.
        dry_run: Nothing was changed.
        older_than: The ``--older-than`` threshold, in seconds.
        keys_scanned: Keys under the prefix that SCAN returned.
        runs_deleted: Runs whose keys were deleted, by why: ``ended`` or ``orphaned``.
        run_keys_deleted: Keys those runs had.
        runs_kept: Runs left alone, by why: ``running``, ``ended_recently``, ``young_orphan``.
        ttl_given: Keys given the run TTL, per kind (the part of the name after ``P:``).
        stale_entries: Entries removed from shared sets and lists: ``runs``, ``woken``,
            ``claimwait``.
        unexpired: Keys allowed to live without a TTL, with their length.
        notes: Things to look at (an untrimmed history stream, ...).
    """

    prefix: str
    dry_run: bool
    older_than: int
    keys_scanned: int = 0
    runs_deleted: dict[str, int] = field(default_factory=lambda: {"ended": 0, "orphaned": 0})
    run_keys_deleted: int = 0
    runs_kept: dict[str, int] = field(
        default_factory=lambda: {"running": 0, "ended_recently": 0, "young_orphan": 0}
    )
    ttl_given: dict[str, int] = field(default_factory=dict)
    stale_entries: dict[str, int] = field(
        default_factory=lambda: {"runs": 0, "woken": 0, "claimwait": 0}
    )
    unexpired: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return asdict(self)

    def lines(self) -> list[str]:
        """The report for people, one fact per line."""
        done = ("deleted", "gave", "removed")
        verbs = (
            tuple(f"would {verb}" for verb in ("delete", "give", "remove"))
            if self.dry_run
            else done
        )
        deleted, kept = self.runs_deleted, self.runs_kept
        ttl = ", ".join(f"{kind} {n}" for kind, n in sorted(self.ttl_given.items()))
        stale = self.stale_entries
        head = "dagcore gc (dry run)" if self.dry_run else "dagcore gc"
        out = [
            f"{head}: {self.keys_scanned} keys under {self.prefix}:*; runs that ended at "
            f"least {format_duration(self.older_than)} ago are collected",
            f"  {verbs[0]} {deleted['ended']} ended and {deleted['orphaned']} orphaned run(s) "
            f"({self.run_keys_deleted} keys)",
            f"  kept {kept['running']} running run(s), {kept['ended_recently']} ended more "
            f"recently, {kept['young_orphan']} orphaned run(s) written in the last "
            f"{format_duration(max(self.older_than, ORPHAN_GRACE_SECONDS))}",
            f"  {verbs[1]} the run TTL ({format_duration(DEFAULT_TTL_SECONDS)}) to "
            f"{sum(self.ttl_given.values())} key(s) without one" + (f": {ttl}" if ttl else ""),
            f"  {verbs[2]} stale entries: {stale['runs']} from {self.prefix}:runs, "
            f"{stale['woken']} from {self.prefix}:woken, {stale['claimwait']} from "
            f"{self.prefix}:claimwait:*",
        ]
        for key, length in sorted(self.unexpired.items()):
            out.append(f"  no TTL by design: {key} ({length} entries)")
        out += [f"  note: {note}" for note in self.notes]
        return out


@dataclass
class _Run:
    """The keys of one run found by the scan, with their TTLs (-1: none)."""

    ttls: dict[bytes, int] = field(default_factory=dict)


def _woken_run(entry: str) -> str:
    """The run id of a ``P:woken`` entry (``rid|task``)."""
    return entry.split("|", 1)[0]


def _chunks(items: Iterable[Any], size: int = _BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


def _seconds(value: bytes | str | None) -> float | None:
    try:
        return float(_text(value)) if value is not None else None
    except ValueError:
        return None


class GarbageCollector:
    """Collects the Redis keys of one dagcore deployment (one key prefix).

    Args:
        redis: A client of the broker's Redis (replies as bytes or str).
        prefix: ``[celery] key_prefix``.
        ttl_seconds: The run TTL given to keys without one.
        orphan_grace: Orphaned run keys written less than this many seconds ago are kept.
    """

    def __init__(
        self,
        redis: Redis[Any],
        prefix: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        orphan_grace: int = ORPHAN_GRACE_SECONDS,
    ) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.ttl_seconds = ttl_seconds
        self.orphan_grace = orphan_grace
        self._head = f"{prefix}:".encode()
        self._delete_run = redis.register_script(_DELETE_RUN)
        self._prune = redis.register_script(_PRUNE)
        self._expire_missing = redis.register_script(_EXPIRE_MISSING)

    # The pass, step by step.

    def collect(self, older_than: int, *, dry_run: bool = False) -> GcReport:
        """Run one pass; see the module docstring.

        Args:
            older_than: Seconds since a run ended before its keys are deleted.
            dry_run: Report what would be done, change nothing.
        """
        report = GcReport(self.keys.prefix, dry_run, older_than)
        runs, no_ttl, claimwaits = self._scan(report)
        seconds, micros = self.redis.time()
        now = seconds + micros / 1e6
        kept = self._collect_runs(runs, now, older_than, report)
        for rid in kept:
            no_ttl += [key for key, ttl in runs[rid].ttls.items() if ttl == -1]
        self._give_ttls(no_ttl, report)
        # In a dry run the runs to delete still exist: count them as gone all the same.
        deleted = set(runs) - set(kept) if dry_run else set()
        self._prune_all(claimwaits, set(kept), deleted, report)
        self._check_history(report)
        return report

    def _scan(self, report: GcReport) -> tuple[dict[str, _Run], list[bytes], list[bytes]]:
        """Every key under the prefix: run keys grouped by run, keys without TTL, claimwaits."""
        runs: dict[str, _Run] = {}
        no_ttl: list[bytes] = []
        claimwaits: list[bytes] = []
        exempt = {self._head + suffix.encode() for suffix in UNEXPIRED_SUFFIXES}
        seen: set[bytes] = set()
        pattern = _glob_escape(self.keys.prefix) + ":*"
        for batch in _chunks(self.redis.scan_iter(match=pattern, count=1000)):
            names = [k if isinstance(k, bytes) else k.encode() for k in batch]
            names = [k for k in names if k.startswith(self._head) and k not in seen]
            seen.update(names)
            pipe = self.redis.pipeline(transaction=False)
            for key in names:
                pipe.ttl(key)
            for key, ttl in zip(names, pipe.execute(), strict=True):
                if ttl == -2:
                    continue  # expired or deleted since SCAN returned it
                report.keys_scanned += 1
                rest = key[len(self._head) :]
                match = _RUN_KEY.match(rest)
                if match:
                    runs.setdefault(_text(match.group(1)), _Run()).ttls[key] = int(ttl)
                    continue
                if rest.startswith(b"claimwait:"):
                    claimwaits.append(key)
                if ttl == -1 and key not in exempt:
                    no_ttl.append(key)
        return runs, no_ttl, claimwaits

    def _collect_runs(
        self, runs: dict[str, _Run], now: float, older_than: int, report: GcReport
    ) -> list[str]:
        """Delete the ended and orphaned runs due; return the ids of the runs kept."""
        kept: list[str] = []
        ids = sorted(runs)
        for batch in _chunks(ids):
            ended = self._end_times(batch)
            for rid in batch:
                run = runs[rid]
                meta = self.keys.run(rid).meta.encode()
                if meta in run.ttls:
                    when = ended.get(rid)
                    if when is None:
                        report.runs_kept["running"] += 1
                    elif now - when < older_than:
                        report.runs_kept["ended_recently"] += 1
                    elif self._delete(rid, run, "ended", 0, report):
                        continue
                    kept.append(rid)
                    continue
                age = self._orphan_age(run)
                limit = max(older_than, self.orphan_grace)
                if age < limit:
                    report.runs_kept["young_orphan"] += 1
                elif self._delete(rid, run, "orphaned", self.ttl_seconds - limit, report):
                    continue
                kept.append(rid)
        return kept

    def _end_times(self, rids: Sequence[str]) -> dict[str, float | None]:
        """When each run ended (None while it runs); runs without a meta are left out."""
        pipe = self.redis.pipeline(transaction=False)
        for rid in rids:
            keys = self.keys.run(rid)
            pipe.hmget(keys.meta, ["status", "ended", "created"])
            pipe.xrevrange(keys.events, count=1)
        replies = pipe.execute()
        out: dict[str, float | None] = {}
        for i, rid in enumerate(rids):
            (status, ended, created), last = replies[2 * i], replies[2 * i + 1]
            if status is None:
                continue
            if _text(status) == "RUNNING":
                out[rid] = None
                continue
            when = _seconds(ended)
            if when is None and last:
                when = int(_text(last[0][0]).partition("-")[0]) / 1000
            out[rid] = when if when is not None else (_seconds(created) or 0.0)
        return out

    def _orphan_age(self, run: _Run) -> float:
        """Seconds since the last write of an orphan's keys, from their TTL (none: forever)."""
        ttls = list(run.ttls.values())
        if -1 in ttls:
            return float("inf")
        return max(0.0, float(self.ttl_seconds - max(ttls)))

    def _delete(self, rid: str, run: _Run, why: str, max_ttl: int, report: GcReport) -> bool:
        # The meta first (the script reads it), every standard key, then any other found.
        keys = [key.encode() for key in self.keys.run(rid).all()]
        keys += sorted(set(run.ttls) - set(keys))
        if report.dry_run:
            deleted = len(run.ttls)
        else:
            mode = "ended" if why == "ended" else "orphan"
            deleted = int(self._delete_run(keys=keys, args=[mode, max_ttl]))
            if not deleted:
                return False
        report.runs_deleted[why] += 1
        report.run_keys_deleted += deleted
        return True

    def _give_ttls(self, keys: list[bytes], report: GcReport) -> None:
        for batch in _chunks(sorted(set(keys))):
            changed = batch if report.dry_run else self._expire_missing(batch, [self.ttl_seconds])
            for key in changed:
                rest = _text(key)[len(self.keys.prefix) + 1 :]
                kind = rest.split(":", 1)[0] if ":" in rest else rest
                report.ttl_given[kind] = report.ttl_given.get(kind, 0) + 1

    def _prune_all(
        self, claimwaits: list[bytes], live: set[str], deleted: set[str], report: GcReport
    ) -> None:
        """Remove the run ids of runs gone from ``P:runs``, ``P:woken`` and the claimwaits.

        ``live`` runs are kept without a look; ``deleted`` ones count as gone (a dry run).
        """
        stale = report.stale_entries
        members = [_text(m) for m in self.redis.sscan_iter(self.keys.runs, count=1000)]
        stale["runs"] += self._prune_one(self.keys.runs, "set", members, live, deleted, report)
        members = [_text(m) for m in self.redis.lrange(self.keys.woken, 0, -1)]
        stale["woken"] += self._prune_one(
            self.keys.woken, "list", members, live, deleted, report, run_of=_woken_run
        )
        for key in claimwaits:
            members = [_text(m) for m in self.redis.lrange(key, 0, -1)]
            stale["claimwait"] += self._prune_one(
                _text(key), "list", members, live, deleted, report
            )

    def _prune_one(
        self,
        key: str,
        kind: str,
        members: list[str],
        live: set[str],
        deleted: set[str],
        report: GcReport,
        run_of: Callable[[str], str] = str,
    ) -> int:
        """Remove (or count, in a dry run) the entries of ``key`` naming runs gone.

        ``run_of`` gives the run id an entry names (the entry itself by default).
        """
        candidates = sorted(m for m in set(members) if run_of(m) not in live)
        if not candidates:
            return 0
        if report.dry_run:
            pipe = self.redis.pipeline(transaction=False)
            for member in candidates:
                pipe.exists(*self.keys.run(run_of(member)).all())
            exists = dict(zip(candidates, pipe.execute(), strict=True))
            return sum(1 for m in members if run_of(m) in deleted or exists.get(m, 1) == 0)
        removed = 0
        for batch in _chunks(candidates, 100):
            keys = [key] + [name for m in batch for name in self.keys.run(run_of(m)).all()]
            removed += int(self._prune(keys=keys, args=[kind, *batch]))
        return removed

    def _check_history(self, report: GcReport) -> None:
        """Report the history streams' sizes, and a main stream nothing trims."""
        for suffix in UNEXPIRED_SUFFIXES:
            key = f"{self.keys.prefix}:{suffix}"
            if self.redis.exists(key):
                report.unexpired[key] = int(self.redis.xlen(key))
        stream = self.keys.history
        if stream not in report.unexpired:
            return
        groups = self.redis.xinfo_groups(stream)  # type: ignore[no-untyped-call]
        if not groups:
            report.notes.append(
                f"{stream} has {report.unexpired[stream]} entries and no consumer group: "
                "nothing trims it until a history writer runs (every dagcore worker and "
                "submitter runs one)"
            )


# -- the command -------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{self.prog}: {message}")


def _parser() -> _Parser:
    parser = _Parser(
        prog="dagcore gc",
        description="Delete the Redis keys of runs that ended long enough ago (and of orphaned "
        "runs), give every dagcore key a TTL, and drop entries naming runs that are gone. "
        "Only keys under [celery] key_prefix are touched.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--older-than",
        default="1d",
        metavar="DURATION",
        help=f"collect runs ended at least this long ago: {_DURATION_HELP} (default: 1d)",
    )
    parser.add_argument("--dry-run", action="store_true", help="report only, change nothing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dagcore gc``; returns 0 (errors raise).

    Raises:
        ConfigError: a bad option or configuration value.
        DagcoreError: the broker cannot be reached or refused a command.
    """
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    older_than = parse_duration(args.older_than)
    settings = Settings.from_config()
    client = redis_client(
        settings, decode_responses=False, socket_timeout=30, socket_connect_timeout=5
    )
    try:
        collector = GarbageCollector(client, settings.celery.key_prefix)
        report = collector.collect(older_than, dry_run=args.dry_run)
    except RedisError as exc:
        raise DagcoreError(
            f"dagcore gc: Redis at {redact(settings.celery.broker_url)} failed: {exc}; check "
            "[celery] broker_url (DAGCORE_BROKER_URL) and that the server is up"
        ) from exc
    finally:
        client.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        print("\n".join(report.lines()))
    return 0
