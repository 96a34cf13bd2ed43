"""The history tables refuse to be rewritten: every pghistory event table, and the context table.

Every event model pghistory makes, in every app, gets a `pgtrigger.Protect`
trigger named `append_only` refusing UPDATE and DELETE
(`PGHISTORY_APPEND_ONLY = True` in settings), so a new tracked model is covered
by construction. The context table (`pghistory_context`: who and which URL) is
pghistory's own; `HistoryContext`, a proxy of it, carries its triggers:

- DELETE is refused always;
- UPDATE is what pghistory's upsert does while a request runs (a later write of
  the same request, or `pghistory.context(...)` inside it, adds or changes
  metadata: the user once logged in, a merge's reason). It is allowed only on
  the context row of the transaction's own context (the id pghistory sets in
  `pghistory.context_id` before every statement), keeping its id and creation
  time and every key its metadata had. A context of an earlier request, whose
  id no later request uses again, cannot change through Fascia; a session that
  sets `pghistory.context_id` itself can add to it (what privileges allow the
  app role is in clinics/database_roles.py).

`unprotected_history()` lists the tables whose protection is missing,
outdated or disabled in the database; the test suite and `verify_audit` ask it.
"""

import pgtrigger
from django.apps import apps
from pghistory.models import Context, Event

from clinics.audit_chain import trigger_problem

APPEND_ONLY = "append_only"
CONTEXT_NEVER_DELETED = "context_never_deleted"
CONTEXT_UPDATED_BY_ITS_REQUEST = "context_updated_by_its_request"


class HistoryContext(Context):
    """pghistory's context rows (who changed something, through which URL), protected."""

    class Meta:
        proxy = True
        triggers = [
            pgtrigger.Protect(name=CONTEXT_NEVER_DELETED, operation=pgtrigger.Delete),
            pgtrigger.Trigger(
                name=CONTEXT_UPDATED_BY_ITS_REQUEST,
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                func="""
                    IF NEW.id IS DISTINCT FROM OLD.id
                        OR NEW.created_at IS DISTINCT FROM OLD.created_at
                        OR OLD.id::text
                            IS DISTINCT FROM current_setting('pghistory.context_id', true)
                        OR EXISTS (
                            SELECT FROM jsonb_object_keys(OLD.metadata) AS kept(key)
                            WHERE NEW.metadata -> kept.key IS NULL
                        )
                    THEN
                        RAISE EXCEPTION 'pghistory_context: only the context of the running '
                            'request may change, and only by adding to its metadata (row %)', OLD.id
                            USING ERRCODE = 'integrity_constraint_violation';
                    END IF;
                    RETURN NEW;
                """,
            ),
        ]


def history_models() -> list[type]:
    """Every history table's model: pghistory's event models of every app, and the context."""
    events = [
        model
        for model in apps.get_models()
        if issubclass(model, Event) and model._meta.managed and not model._meta.proxy
    ]
    return [*sorted(events, key=lambda model: model._meta.label), HistoryContext]


def _expected_triggers(model) -> list[str]:
    if model is HistoryContext:
        return [CONTEXT_NEVER_DELETED, CONTEXT_UPDATED_BY_ITS_REQUEST]
    return [APPEND_ONLY]


def _refuses_update_and_delete(trigger) -> bool:
    operations = list(trigger.operation)
    return (
        isinstance(trigger, pgtrigger.Protect)
        and pgtrigger.Update in operations
        and pgtrigger.Delete in operations
        and trigger.condition is None
    )


def unprotected_history(using: str = "default") -> list[str]:
    """What is wrong with the history tables' protection, one line each; empty when all hold."""
    problems = []
    for model in history_models():
        table = model._meta.db_table
        declared = {trigger.name: trigger for trigger in model._meta.triggers}
        for name in _expected_triggers(model):
            trigger = declared.get(name)
            if name == APPEND_ONLY and trigger and not _refuses_update_and_delete(trigger):
                problems.append(f"{table}: {name} does not refuse every UPDATE and DELETE")
            problem = trigger_problem(model, name, using=using)
            if problem:
                problems.append(problem)
    return problems
