"""Import of recordings: validation by decoding, de-duplication, metadata, encrypted storage, queueing.

Every file is decoded in full before it is accepted (``ccr.speech.audio.probe_audio``); a refused file gets a
precise French reason and never stops the other files of the batch. The same recording (same sha256)
is imported once per organisation. Accepted files are encrypted (``ccr.core.storage``) and their call is
queued for the worker (``ccr.pipeline.worker``), or held while a maintenance window is active.

Metadata, for each field, comes from the first source that gives it:

1. the metadata CSV line of the file (see :func:`parse_metadata_csv`);
2. the defaults chosen in the Import form (or ``--agent`` on the command line);
3. the file name, when it follows the pattern below;
4. otherwise: no agent, the agent's team, the upload time, direction « entrant ».

File-name pattern (every part after the time is optional, parts are separated by ``_``)::

    AAAAMMJJ-HHMMSS_<agent>_<direction>_<campagne>.<ext>
    20260315-143005_Julie-Martin_entrant_Fibre.wav

- date and time are local (``CCR_TIMEZONE``); ``<agent>`` is an agent's name, with ``-`` or ``.``
  for spaces, case-insensitive; ``<direction>`` is ``entrant`` or ``sortant``; ``<campagne>`` is free text.

A call date in the future (beyond one day of clock skew) or older than any retention duration allows
(``ccr.privacy.retention.call_date_error``) is refused, wherever it comes from: the CSV line, the form or the
file name; the file is refused with the reason, the rest of the batch goes on.

Metadata CSV: ``;`` or ``,`` separated; UTF-8 (with or without BOM), UTF-16 with BOM, or Windows-1252/latin-1.
Columns (header names are case- and accent-insensitive): ``fichier`` (required), ``agent``, ``equipe``,
``date`` (``JJ/MM/AAAA HH:MM[:SS]`` or ``AAAA-MM-JJ HH:MM[:SS]``), ``heure`` (optional, ``HH:MM[:SS]``),
``direction`` (entrant/sortant), ``campagne``, ``id_externe``, ``telephone_client``. A line with an error
(unknown agent or team, bad date, missing column) is reported with its line number; the other lines apply.
The file is read as a stream (never decoded whole): in a batch, only the lines of the batch's own files
are resolved and kept, the others are counted; beyond ``MAX_CSV_ROWS`` lines it is refused, before any
file is imported.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import re
import unicodedata
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ccr.core import audit, storage
from ccr.core.access import may
from ccr.core.config import get_settings
from ccr.core.db import session as db_session
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, AudioError, CcrError, InvalidInput
from ccr.core.formats import fr_number
from ccr.core.models import Agent, Call, Team
from ccr.core.textnorm import strip_bidi
from ccr.core.users import Actor
from ccr.pipeline.maintenance import is_maintenance_active
from ccr.pipeline.queue import dispatch_after_commit
from ccr.privacy.retention import call_date_error
from ccr.quality import scope
from ccr.speech.audio import probe_audio, sha256_bytes

ACCEPTED_EXTENSIONS = ("wav", "mp3", "ogg", "opus", "flac", "m4a")
MAX_NAME_LEN = 120  # display names longer than this are noise from a script, and break tables
MAX_TEXT_LEN = 200  # campaign, external id: free text, capped like any other untrusted field
DEFAULT_NAME = "enregistrement"
# What import files write for a direction -> its code (ccr.core.vocab.DIRECTIONS).
DIRECTION_ALIASES = {
    "entrant": "entrant", "entrante": "entrant", "in": "entrant", "inbound": "entrant", "entree": "entrant",
    "e": "entrant", "sortant": "sortant", "sortante": "sortant", "out": "sortant", "outbound": "sortant",
    "sortie": "sortant", "s": "sortant",
}
# Normalised header name -> field. Normalisation: lower case, no accents, no spaces, "_" or "-".
COLUMN_ALIASES = {
    "fichier": "file", "file": "file", "filename": "file", "nomfichier": "file", "nomdufichier": "file",
    "enregistrement": "file", "agent": "agent", "conseiller": "agent", "nomagent": "agent",
    "equipe": "team", "team": "team", "date": "date", "dateheure": "date", "datetime": "date",
    "debut": "date", "heure": "time", "time": "time", "direction": "direction", "sens": "direction",
    "campagne": "campaign", "campaign": "campaign", "idexterne": "external_id", "externalid": "external_id",
    "idappel": "external_id", "telephoneclient": "customer_phone", "telephone": "customer_phone",
    "telclient": "customer_phone", "phone": "customer_phone", "customerphone": "customer_phone",
    "numeroclient": "customer_phone", "ligne": "line", "line": "line", "ligneagent": "line",
    "numeroagent": "line", "poste": "line",
}
DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y")
# A metadata CSV describes the recordings of one batch; a day's export of a large centre (tens of
# thousands of calls) still fits. Parsing runs in the server process every user shares, and a million
# lines once took two minutes and +950 MB there: beyond this many lines the file is refused.
MAX_CSV_ROWS = 100_000
PARSE_CACHE = 4096  # distinct dates and names remembered while parsing: a CSV repeats them on many lines
CSV_CHUNK = 1 << 20  # bytes checked at a time when sniffing the encoding: 1 MiB, never a copy of the file
CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")  # bytes Windows-1252 leaves unassigned
TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%Hh%M", "%Hh%Mm%Ss")
FILENAME_PATTERN = re.compile(
    r"^(?P<date>\d{8})-(?P<time>\d{6})(?:_(?P<agent>[^_]+))?(?:_(?P<direction>[^_]+))?(?:_(?P<campaign>.+))?$"
)
RESULT_LABELS = {"accepted": "accepté", "duplicate": "déjà importé", "rejected": "refusé"}
CLI_USERNAME = "cli"
CLI_USER_ID = 0  # not a database user: the command line acts for the organisation


@dataclass
class IngestResult:
    """The outcome of one uploaded file: accepted (queued or held), duplicate or rejected, with a French reason."""

    filename: str
    status: str  # accepted | duplicate | rejected
    reason: str = ""
    call_id: int | None = None
    call_status: str | None = None

    @property
    def status_label(self) -> str:
        """French label of the status."""
        return RESULT_LABELS.get(self.status, self.status)

    def as_row(self) -> dict[str, Any]:
        """One line of the results table of the Import page."""
        return {"fichier": self.filename, "statut": self.status_label, "raison": self.reason, "appel": self.call_id}


@dataclass(frozen=True)
class LineError:
    """A metadata CSV line that was not applied, and why (French)."""

    line: int
    message: str
    filename: str | None = None

    def as_row(self) -> dict[str, Any]:
        """One line of the CSV errors table."""
        return {"ligne": self.line, "fichier": self.filename or "", "erreur": self.message}


@dataclass
class BatchResult:
    """Results of a batch of files and the metadata CSV line errors."""

    results: list[IngestResult] = field(default_factory=list)
    line_errors: list[LineError] = field(default_factory=list)
    ignored_lines: int = 0  # metadata CSV lines about files that were not in the batch

    @property
    def call_ids(self) -> list[int]:
        """Calls created or found again by this batch."""
        return [r.call_id for r in self.results if r.call_id is not None]


def cli_actor(org_id: int) -> Actor:
    """The acting identity of the command line: the organisation itself, audited as « cli »."""
    return Actor(user_id=CLI_USER_ID, username=CLI_USERNAME, display_name="Ligne de commande", org_id=org_id,
                 role="supervisor")


def _who(actor: Actor) -> audit.Who:
    if actor.user_id == CLI_USER_ID:  # the command line, an API token or the drop folder: no database user
        return audit.Who(org_id=actor.org_id, user_id=None, username=actor.username)
    return actor.who


def _require_import(actor: Actor) -> None:
    if not may(actor.role, "import_calls"):
        raise AccessDenied("Seuls un superviseur ou un administrateur peuvent importer des appels.")


# --- names -------------------------------------------------------------------------------------


def sanitize_filename(name: str | None) -> str:
    """A safe display name for an uploaded file: base name, no control characters, bounded length."""
    name = str(name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(" " if unicodedata.category(c).startswith("C") else c for c in name)
    name = " ".join(name.split()).strip(" .")
    if not name:
        return DEFAULT_NAME
    if len(name) > MAX_NAME_LEN:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 5:
            name = stem[: MAX_NAME_LEN - len(ext) - 2] + "…." + ext
        else:
            name = name[: MAX_NAME_LEN - 1] + "…"
    return name


def _match_key(name: str) -> str:
    return sanitize_filename(name).casefold()


@functools.lru_cache(maxsize=PARSE_CACHE)
def _fold(text: str) -> str:
    """Lower case, no accents, words separated by one space (agent names in file names, headers)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.split(r"[\s._\-]+", text.casefold())).strip()


def _clean_text(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join("".join(c for c in str(value) if not unicodedata.category(c).startswith("C")).split())
    return text[:MAX_TEXT_LEN] or None


def _clean_phone(value: Any) -> str | None:
    text = _clean_text(value)
    if not text:
        return None
    return re.sub(r"[\s.\-()/]", "", text) or None


# --- dates -------------------------------------------------------------------------------------


def _local_to_utc(dt: datetime) -> datetime:
    tz = ZoneInfo(get_settings().timezone)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(ZoneInfo("UTC"))


def _parse_datetime(value: str, time_value: str | None = None) -> datetime:
    return _parse_local(value.strip(), (time_value or "").strip(), get_settings().timezone)


@functools.lru_cache(maxsize=PARSE_CACHE)
def _parse_local(value: str, time_value: str, tz_name: str) -> datetime:
    """A local date (and time) as an aware UTC datetime; cached, as a CSV repeats the same dates."""
    parsed = None
    for fmt in DATE_FORMATS:
        try:
            parsed = datetime.strptime(value, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        raise InvalidInput(f"date « {value} » invalide (JJ/MM/AAAA HH:MM ou AAAA-MM-JJ HH:MM attendu)")
    if time_value:
        for fmt in TIME_FORMATS:
            try:
                t = datetime.strptime(time_value, fmt).time()
                parsed = datetime.combine(parsed.date(), t)
                break
            except ValueError:
                continue
        else:
            raise InvalidInput(f"heure « {time_value} » invalide (HH:MM ou HH:MM:SS attendu)")
    return parsed.replace(tzinfo=ZoneInfo(tz_name)).astimezone(UTC)


def _as_utc(value: Any) -> datetime | None:
    """A form or CSV date (datetime, date or text) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _local_to_utc(value)
    if isinstance(value, date):
        return _local_to_utc(datetime.combine(value, time(0, 0)))
    return _parse_datetime(str(value))


def _direction(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    folded = _fold(str(value))
    if folded not in DIRECTION_ALIASES:
        raise InvalidInput(f"direction « {str(value).strip()} » invalide (entrant ou sortant attendu)")
    return DIRECTION_ALIASES[folded]


# --- agents and teams --------------------------------------------------------------------------


def _find_agent(session: Session, org_id: int, name: str) -> Agent | None:
    wanted = _fold(name)
    if not wanted:
        return None
    for agent in session.exec(select(Agent).where(Agent.org_id == org_id)).all():
        if _fold(agent.name) == wanted or (agent.external_ref and _fold(agent.external_ref) == wanted):
            return agent
    return None


def _find_team(session: Session, org_id: int, name: str) -> Team | None:
    wanted = _fold(name)
    for team in session.exec(select(Team).where(Team.org_id == org_id)).all():
        if _fold(team.name) == wanted:
            return team
    return None


def _name_index(session: Session, model, org_id: int) -> dict[str, Any]:
    """Folded name (and external reference) -> row, built once per CSV: a 100 000-line file must not run
    one query per line (it took minutes)."""
    index: dict[str, Any] = {}
    for row in session.exec(select(model).where(model.org_id == org_id)).all():
        for name in (row.name, getattr(row, "external_ref", None)):
            if name and (folded := _fold(name)):
                index.setdefault(folded, row)
    return index


def _own_agent(session: Session, org_id: int, agent_id: int) -> Agent:
    agent = session.get(Agent, int(agent_id))
    if agent is None or agent.org_id != org_id:
        raise InvalidInput("Agent introuvable dans votre organisation.")
    return agent


def _own_team(session: Session, org_id: int, team_id: int) -> Team:
    team = session.get(Team, int(team_id))
    if team is None or team.org_id != org_id:
        raise InvalidInput("Équipe introuvable dans votre organisation.")
    return team


# --- metadata CSV ------------------------------------------------------------------------------


def _is_utf8(data: bytes) -> bool:
    """True when ``data`` is valid UTF-8, checked chunk by chunk (no decoded copy of the whole file)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for i in range(0, len(data), CSV_CHUNK):
            decoder.decode(view[i:i + CSV_CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def csv_encoding(data: bytes) -> str:
    """Codec of a CSV file: UTF-8 (BOM or not), UTF-16 with BOM, else Windows-1252 / latin-1 (old Excel).

    Checked without decoding the file into one string: a large upload must not be copied whole."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if data.isascii() or _is_utf8(data):
        return "utf-8"
    if not any(byte in data for byte in CP1252_UNDEFINED):
        return "cp1252"
    return "latin-1"  # decodes any byte: the last resort


def _csv_lines(data: bytes) -> Iterator[str]:
    """The lines of a CSV upload, decoded as they are read (a small buffer at a time), NUL bytes dropped."""
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=csv_encoding(data), errors="replace", newline="")
    for line in stream:
        yield line.replace("\x00", "")


def _header_field(name: str) -> str | None:
    key = re.sub(r"[\s_\-'’./]+", "", _fold(name))
    return COLUMN_ALIASES.get(key)


def parse_metadata_csv(data: bytes, *, session: Session, actor: Actor,
                       only: Collection[str] | None = None) -> tuple[dict[str, dict], list[LineError]]:
    """Parse a metadata CSV into ``{file name (case-folded): metadata}`` and the per-line errors.

    Agents and teams are resolved in the actor's organisation only; lines with an error are left out.
    With ``only`` (the batch's file names, case-folded), lines about other files are skipped unresolved."""
    rows, errors, _ = read_metadata_csv(data, session=session, actor=actor, only=only)
    return rows, errors


def read_metadata_csv(data: bytes, *, session: Session, actor: Actor, only: Collection[str] | None = None,
                      ) -> tuple[dict[str, dict], list[LineError], int]:
    """Stream a metadata CSV: the metadata by file name (case-folded), the per-line errors, and how many
    lines were ignored because they describe files outside ``only`` (when given).

    Raises InvalidInput beyond MAX_CSV_ROWS lines, before the batch is imported: a line that could not be
    read would leave its file with the wrong metadata."""
    _require_import(actor)
    lines = _csv_lines(data)
    first, skipped = "", 0
    for line in lines:  # the first non-blank line decides the delimiter; blank ones are only counted
        if line.strip():
            first = line
            break
        skipped += 1
    delimiter = ";" if first.count(";") >= first.count(",") and first.count(";") > 0 else ","
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter)
    errors: list[LineError] = []
    rows: dict[str, dict] = {}
    header: list[str | None] | None = None
    header_line = 0
    described = ignored = 0
    seen_at: dict[str, int] = {}
    names = {"agent": _name_index(session, Agent, actor.org_id), "team": _name_index(session, Team, actor.org_id)}
    for raw in reader:
        line_no = reader.line_num + skipped
        if not any(cell.strip() for cell in raw):
            continue
        if header is None:
            header = [_header_field(cell) for cell in raw]
            header_line = line_no
            if "file" not in header:
                errors.append(LineError(line_no, "Colonne obligatoire « fichier » absente de l'en-tête "
                                                 "(colonnes attendues : fichier;agent;equipe;date;direction;"
                                                 "campagne;id_externe;telephone_client)."))
                return {}, errors, 0
            file_col = header.index("file")
            continue
        described += 1
        if described > MAX_CSV_ROWS:
            raise InvalidInput(
                f"Fichier de métadonnées trop long : plus de {fr_number(MAX_CSV_ROWS, 0)} lignes."
                + " Il décrit les enregistrements d'un envoi : ne gardez que leurs lignes, ou répartissez-les "
                  "en plusieurs envois. Aucun fichier n'a été importé.")
        cell = raw[file_col].strip() if file_col < len(raw) else ""
        if only is not None and (not cell or _match_key(cell) not in only):
            ignored += 1  # another batch's file: not resolved, not kept
            continue
        if len(raw) < len(header):
            errors.append(LineError(line_no, f"Colonne manquante : {len(raw)} valeurs pour {len(header)} colonnes "
                                             f"(séparateur « {delimiter} »).", cell or None))
            continue
        # Bidi controls reorder what screens show; the file name keeps them, to match the upload's own name.
        values = {f: (raw[i] if f == "file" else strip_bidi(raw[i])).strip() for i, f in enumerate(header)
                  if f is not None}
        filename = values.get("file", "")
        if not filename:
            errors.append(LineError(line_no, "Nom de fichier vide."))
            continue
        key = _match_key(filename)
        if key in seen_at:
            errors.append(LineError(line_no, f"Fichier déjà décrit à la ligne {seen_at[key]}.", filename))
            continue
        seen_at[key] = line_no
        try:
            rows[key] = _metadata_from_values(values, names=names) | {"line": line_no}
        except InvalidInput as e:
            errors.append(LineError(line_no, str(e)[:1].upper() + str(e)[1:] + ".", filename))
    if header is None:
        errors.append(LineError(max(header_line, 1), "Le fichier de métadonnées est vide."))
    return rows, errors, ignored


def _metadata_from_values(values: dict[str, str], *, names: dict[str, dict[str, Any]]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    problems: list[str] = []
    if values.get("agent"):
        agent = names["agent"].get(_fold(values["agent"]))
        if agent is None:
            problems.append(f"agent « {values['agent']} » inconnu dans votre organisation")
        else:
            meta["agent_id"] = agent.id
    if values.get("team"):
        team = names["team"].get(_fold(values["team"]))
        if team is None:
            problems.append(f"équipe « {values['team']} » inconnue dans votre organisation")
        else:
            meta["team_id"] = team.id
    if values.get("date"):
        try:
            meta["started_at"] = _parse_datetime(values["date"], values.get("time"))
        except InvalidInput as e:
            problems.append(str(e))
        else:
            if (error := call_date_error(meta["started_at"])) is not None:
                problems.append(error)
    try:
        if (direction := _direction(values.get("direction"))) is not None:
            meta["direction"] = direction
    except InvalidInput as e:
        problems.append(str(e))
    for key in ("campaign", "external_id", "line"):
        if (text := _clean_text(values.get(key))) is not None:
            meta[key] = text
    if (phone := _clean_phone(values.get("customer_phone"))) is not None:
        meta["customer_phone"] = phone
    if problems:
        raise InvalidInput(" ; ".join(problems))
    return meta


# --- file-name pattern -------------------------------------------------------------------------


def metadata_from_filename(filename: str, *, session: Session, org_id: int) -> tuple[dict[str, Any], list[str]]:
    """Metadata read from a file name that follows the documented pattern, and French notes on parts ignored."""
    stem = sanitize_filename(filename).rsplit(".", 1)[0] if "." in filename else sanitize_filename(filename)
    m = FILENAME_PATTERN.match(stem)
    if not m:
        return {}, []
    meta: dict[str, Any] = {}
    notes: list[str] = []
    try:
        meta["started_at"] = _local_to_utc(datetime.strptime(m["date"] + m["time"], "%Y%m%d%H%M%S"))
    except ValueError:
        notes.append("date du nom de fichier invalide, ignorée")
    if m["agent"]:
        agent = _find_agent(session, org_id, m["agent"])
        if agent is None:
            notes.append(f"agent « {m['agent']} » du nom de fichier inconnu, non attribué")
        else:
            meta["agent_id"] = agent.id
    if m["direction"]:
        folded = _fold(m["direction"])
        if folded in DIRECTION_ALIASES:
            meta["direction"] = DIRECTION_ALIASES[folded]
            if m["campaign"]:
                meta["campaign"] = _clean_text(m["campaign"].replace("-", " "))
        else:  # "<date>_<agent>_<campagne>": the third part is the campaign
            meta["campaign"] = _clean_text((m["direction"] + ("_" + m["campaign"] if m["campaign"] else ""))
                                           .replace("-", " "))
    return meta, notes


# --- one upload --------------------------------------------------------------------------------


def ingest_upload(
    *,
    session: Session,
    actor: Actor,
    filename: str,
    data: bytes,
    metadata: dict | None = None,
    defaults: dict | None = None,
) -> IngestResult:
    """Validate, de-duplicate, encrypt and queue one uploaded recording, in the caller's transaction.

    ``metadata`` (a CSV line) wins over ``defaults`` (the form), which win over the file name. The
    organisation's scope (:mod:`ccr.quality.scope`) decides whether the call is analysed, stored
    only, or refused (an excluded agent, line or campaign)."""
    _require_import(actor)
    settings = get_settings()
    name = sanitize_filename(filename)
    max_bytes = settings.max_upload_mb * 1024 * 1024
    if len(data) > max_bytes:
        return IngestResult(name, "rejected", f"Fichier trop volumineux ({len(data) / 1e6:.0f} Mo) : "
                                              f"{settings.max_upload_mb} Mo au maximum.")
    sha = sha256_bytes(data)
    existing = session.exec(select(Call).where(Call.org_id == actor.org_id, Call.sha256 == sha)).first()
    if existing is not None:
        return IngestResult(name, "duplicate", f"Déjà importé : appel n° {existing.id}, aucun doublon créé.",
                            existing.id, existing.status)
    try:
        info = probe_audio(data, filename=name, max_seconds=settings.max_audio_seconds)
    except AudioError as e:
        return IngestResult(name, "rejected", str(e))

    from_name, notes = metadata_from_filename(name, session=session, org_id=actor.org_id)
    merged: dict[str, Any] = dict(from_name)
    try:
        for source in (defaults, metadata):
            merged.update(_names_to_ids(session, actor.org_id, source or {}))
        fields = _resolve_fields(session, actor.org_id, merged)
    except InvalidInput as e:
        return IngestResult(name, "rejected", f"Métadonnées invalides : {e}")
    # The date's source, by precedence, so the refusal says what to correct.
    origin = next((label for label, source in (("métadonnées jointes au fichier", metadata),
                                               ("valeur par défaut du formulaire", defaults),
                                               ("nom du fichier", from_name)) if (source or {}).get("started_at")),
                  None)
    if origin is not None and (error := call_date_error(fields["started_at"])) is not None:
        return IngestResult(name, "rejected", f"Date refusée ({origin}) : {error}.")
    if fields["external_id"] and (same := session.exec(select(Call.id, Call.status).where(
            Call.org_id == actor.org_id, Call.external_id == fields["external_id"])).first()) is not None:
        return IngestResult(name, "duplicate", f"Déjà importé : l'identifiant externe « {fields['external_id']} » "
                                               f"est celui de l'appel n° {same[0]}, aucun doublon créé.", *same)

    rules = scope.get_rules(session=session, org_id=actor.org_id)
    decision = scope.decide(session=session, org_id=actor.org_id, sha256=sha, agent_id=fields["agent_id"],
                            line=fields["line"], campaign=fields["campaign"], started_at=fields["started_at"],
                            rules=rules)
    if decision.scope == "excluded" and not rules.store_excluded:
        audit.log_event(session=session, who=_who(actor), action="call_refused_out_of_scope", target_type="call",
                        target_id=None, detail={"fichier": name, "perimetre": decision.scope})
        return IngestResult(name, "rejected", decision.reason)
    if not decision.analysed:
        status = "stored"  # kept, never transcribed nor scored unless a supervisor asks (or never, if excluded)
    else:
        status = "held" if is_maintenance_active(session=session, org_id=actor.org_id) else "queued"
    key = storage.put_audio(data, org_id=actor.org_id, settings=settings)
    now = utcnow()
    call = Call(org_id=actor.org_id, sha256=sha, audio_key=key, audio_size=len(data), source_name=name,
                duration_s=info.duration_s, channels=info.channels, sample_rate=info.sample_rate, codec=info.codec,
                status=status, queued_at=now, created_at=now, scope=decision.scope, scope_draw=decision.draw,
                restricted=decision.scope == "excluded",
                uploaded_by=None if actor.user_id == CLI_USER_ID else actor.user_id, **fields)
    try:
        with session.begin_nested():  # a concurrent upload of the same file loses here, not the batch
            session.add(call)
            session.flush()
    except IntegrityError:
        storage.delete_audio(key, org_id=actor.org_id, settings=settings)
        if call in session:
            session.expunge(call)
        existing = session.exec(select(Call).where(Call.org_id == actor.org_id, Call.sha256 == sha)).first()
        return IngestResult(name, "duplicate", f"Déjà importé : appel n° {existing.id if existing else '?'}.",
                            existing.id if existing else None, existing.status if existing else None)
    except BaseException:
        storage.delete_audio(key, org_id=actor.org_id, settings=settings)
        raise
    if status == "queued":
        dispatch_after_commit(session, [call.id])  # Celery mode: its task is sent once this upload commits
    audit.log_event(session=session, who=_who(actor), action="call_uploaded", target_type="call",
                    target_id=call.id, detail={"fichier": name, "duree_s": info.duration_s,
                                               "canaux": info.channels, "statut": status, "perimetre": decision.scope})
    reason = {"queued": "En file d'attente.", "held": "Reçu pendant une maintenance : traité ensuite."}.get(
        status, decision.reason)
    if notes:
        text = " ; ".join(notes)
        reason += " " + text[:1].upper() + text[1:] + "."
    return IngestResult(name, "accepted", reason, call.id, status)


def _names_to_ids(session: Session, org_id: int, source: dict[str, Any]) -> dict[str, Any]:
    """The non-empty values of a metadata source, with agent and team names turned into ids."""
    out = {k: v for k, v in source.items() if v not in (None, "") and k not in ("agent", "team")}
    if source.get("agent") and not source.get("agent_id"):
        agent = _find_agent(session, org_id, str(source["agent"]))
        if agent is None:
            raise InvalidInput(f"agent « {source['agent']} » inconnu dans votre organisation")
        out["agent_id"] = agent.id
    if source.get("team") and not source.get("team_id"):
        team = _find_team(session, org_id, str(source["team"]))
        if team is None:
            raise InvalidInput(f"équipe « {source['team']} » inconnue dans votre organisation")
        out["team_id"] = team.id
    return out


def _resolve_fields(session: Session, org_id: int, merged: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    agent = _own_agent(session, org_id, merged["agent_id"]) if merged.get("agent_id") else None
    team_id = merged.get("team_id")
    if team_id:
        team_id = _own_team(session, org_id, team_id).id
    elif agent is not None:
        team_id = agent.team_id  # the team defaults to the agent's
    out["agent_id"] = agent.id if agent else None
    out["team_id"] = team_id
    out["started_at"] = _as_utc(merged.get("started_at")) or utcnow()
    out["direction"] = _direction(merged.get("direction")) or "entrant"
    out["campaign"] = _clean_text(merged.get("campaign"))
    out["external_id"] = _clean_text(merged.get("external_id"))
    out["line"] = _clean_text(merged.get("line"))
    out["customer_phone"] = _clean_phone(merged.get("customer_phone"))
    return out


# --- a batch -----------------------------------------------------------------------------------


def ingest_files(
    *,
    actor: Actor,
    files: Sequence[tuple[str, bytes]],
    metadata_csv: bytes | None = None,
    defaults: dict | None = None,
) -> BatchResult:
    """Import a batch (Import page, CLI): one transaction per file, so a bad file never undoes the others."""
    _require_import(actor)
    batch = BatchResult()
    rows: dict[str, dict] = {}
    if metadata_csv:
        with db_session() as s:  # only this batch's lines are resolved and kept: memory follows the batch
            rows, batch.line_errors, batch.ignored_lines = read_metadata_csv(
                metadata_csv, session=s, actor=actor, only={_match_key(name) for name, _ in files})
    bad_lines = {_match_key(e.filename): e for e in batch.line_errors if e.filename}
    for filename, data in files:
        key = _match_key(filename)
        if key in bad_lines and key not in rows:
            err = bad_lines[key]
            batch.results.append(IngestResult(sanitize_filename(filename), "rejected",
                                              f"Ligne {err.line} du fichier de métadonnées invalide : {err.message}"))
            continue
        try:
            with db_session() as s:
                result = ingest_upload(session=s, actor=actor, filename=filename, data=data,
                                       metadata=rows.get(key), defaults=defaults)
        except CcrError as e:
            result = IngestResult(sanitize_filename(filename), "rejected", str(e))
        batch.results.append(result)
    return batch
