"""The words CCR uses for states, directions, roles, verdicts and speakers: written once, with their French labels.

Codes are what the database, the JSON contracts and the URLs hold (stable, English or historical); labels
are what a French user reads. Every module, page and export takes both from here, so a state or a
role never has two spellings or two meanings.
"""

from __future__ import annotations

# Processing states of a call, in order. "held" = received during a maintenance window.
CALL_STATUSES = ("received", "held", "queued", "transcribing", "scoring", "done", "failed", "stored")
CALL_STATUS_LABELS = {
    "received": "reçu",
    "held": "en attente (maintenance)",
    "queued": "en file",
    "transcribing": "transcription",
    "scoring": "évaluation",
    "done": "terminé",
    "failed": "échec",
    "stored": "conservé, non analysé",
}

# Why a call is, or is not, analysed (ccr.quality.scope): only "in" and "requested" calls are transcribed
# and scored; "excluded" calls are never shown outside the DPO's tools.
CALL_SCOPES = ("in", "requested", "sampled_out", "outside_period", "excluded")
CALL_SCOPE_LABELS = {
    "in": "dans le périmètre",
    "requested": "analysé à la demande d'un superviseur",
    "sampled_out": "non tiré au sort (quota atteint ou tirage)",
    "outside_period": "hors période d'évaluation annoncée",
    "excluded": "exclu (agent, ligne ou campagne)",
}
SCOPE_EXCLUSION_KINDS = {"agent": "Agent", "line": "Ligne téléphonique", "campaign": "Campagne"}
GOVERNANCE_DOCUMENTS = {
    "worker_notice": "Note d'information des salariés",
    "instructions": "Notice d'utilisation de l'IA",
    "cse_file": "Dossier de consultation du CSE",
}

# Who called whom: the codes are French because the import CSVs and URLs of French centres already use them.
DIRECTIONS = ("entrant", "sortant")
DIRECTION_LABELS = {"entrant": "Entrant", "sortant": "Sortant"}

ROLES = ("admin", "dpo", "supervisor", "team_lead", "agent")
ROLE_LABELS = {
    "admin": "Administrateur",
    "dpo": "Délégué à la protection des données",
    "supervisor": "Superviseur",
    "team_lead": "Chef d'équipe",
    "agent": "Téléconseiller",
}
# Roles that see a whole organisation's calls; a team lead sees their teams, an agent only their own.
ORG_WIDE_ROLES = frozenset({"admin", "dpo", "supervisor"})

ORG_STATUSES = ("active", "suspended", "terminated")

# A criterion's verdict; "na" = not applicable to this call (left out of the score).
VERDICTS = ("pass", "fail", "na")
VERDICT_LABELS = {"pass": "Conforme", "fail": "Non conforme", "na": "Non applicable"}

# Who said a transcript line. "inconnu" is what a mono recording without speaker separation gets.
SPEAKERS = ("agent", "customer", "inconnu")
SPEAKER_LABELS = {"agent": "Agent", "customer": "Client", "inconnu": "Inconnu"}

# A dispute of a published evaluation: open until a supervisor decides; "partial" = some criteria accepted.
DISPUTE_STATUSES = ("open", "accepted", "partial", "rejected")
DISPUTE_STATUS_LABELS = {
    "open": "en attente",
    "accepted": "acceptée",
    "partial": "acceptée en partie",
    "rejected": "rejetée",
}
# A supervisor's decision on one contested criterion (None while the dispute is open).
DISPUTE_DECISIONS = ("accepted", "rejected")
DISPUTE_DECISION_LABELS = {"accepted": "acceptée", "rejected": "rejetée", None: "en attente"}

# What an API token may do (ccr.core.api_tokens), in the order the admin page lists them.
API_SCOPES = ("calls:write", "calls:read", "evaluations:read")
API_SCOPE_LABELS = {
    "calls:write": "déposer des appels",
    "calls:read": "lire l'état des appels",
    "evaluations:read": "lire les évaluations",
}
# Events an organisation's webhook receives (ccr.core.outbox).
WEBHOOK_EVENTS = ("call.scored", "call.failed", "review.validated")
WEBHOOK_EVENT_LABELS = {
    "call.scored": "appel évalué",
    "call.failed": "appel en échec",
    "review.validated": "revue validée",
}
WEBHOOK_STATUSES = ("pending", "delivered", "abandoned")
WEBHOOK_STATUS_LABELS = {"pending": "en attente", "delivered": "livré", "abandoned": "abandonné"}

# Whether a scored stereo call looks recorded with the agent on the expected channel (ccr.scoring.channel_check).
CHANNEL_CHECKS = ("ok", "suspect")
CHANNEL_CHECK_LABELS = {"ok": "canaux conformes", "suspect": "canaux probablement inversés"}

# How the speakers of a mono call were told apart (transcript.speaker_separation; ccr.pipeline.speakers).
SPEAKER_SEPARATIONS = ("separated", "unavailable", "off", "insufficient")
SPEAKER_SEPARATION_LABELS = {
    "separated": "locuteurs séparés automatiquement",
    "unavailable": "séparation des locuteurs non installée sur le serveur de transcription",
    "off": "séparation des locuteurs désactivée (CCR_DIARIZATION=off)",
    "insufficient": "deux voix n'ont pas pu être distinguées",
}
