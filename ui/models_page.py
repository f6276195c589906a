"""Models: the registered versions with aliases and scores; promote one to champion (admin only)."""

from __future__ import annotations

from nicegui import ui

from ui.backend import BackendApi
from ui.widgets import banner, fmt_score, fmt_time, load, section


async def models_page(backend: BackendApi) -> None:
    ui.label("Models").classes("text-2xl")
    body = ui.column().classes("w-full gap-4")

    async def show() -> None:
        versions, problem = await load(backend.versions)
        body.clear()
        with body:
            if problem:
                banner(problem)
            versions_table(versions)
            if versions:
                promote_form(backend, versions, on_promoted=show)

    await show()


def versions_table(versions: list[dict] | None) -> None:
    with section("Registered versions"):
        if versions is None:
            ui.label("Versions unavailable (see the banner above).")
            return
        if not versions:
            ui.label("No registered model yet: training registers one version per trained model.")
            return
        rows = [
            {**v, "aliases": ", ".join(v["aliases"]) or "-", "accuracy": fmt_score(v["accuracy"]),
             "f1": fmt_score(v["f1"]), "created": fmt_time(v["created"])}
            for v in versions
        ]
        columns = [
            {"name": "version", "label": "Version", "field": "version", "sortable": True, "align": "left"},
            {"name": "aliases", "label": "Aliases", "field": "aliases", "sortable": True, "align": "left"},
            {"name": "family", "label": "Family", "field": "family", "sortable": True, "align": "left"},
            {"name": "accuracy", "label": "Accuracy", "field": "accuracy", "sortable": True},
            {"name": "f1", "label": "F1 (weighted)", "field": "f1", "sortable": True},
            {"name": "training_id", "label": "Training", "field": "training_id", "align": "left"},
            {"name": "created", "label": "Registered", "field": "created", "sortable": True, "align": "left"},
        ]
        ui.table(columns=columns, rows=rows, row_key="version").props("dense flat").classes("w-full").mark(
            "versions-table"
        )


def promote_form(backend: BackendApi, versions: list[dict], on_promoted) -> None:
    current = next((v["version"] for v in versions if backend.model_alias in v["aliases"]), None)
    options = {v["version"]: f"version {v['version']} · {v['family'] or 'model'}" for v in versions}
    with section("Promote a version to champion"):
        ui.label(f"The champion is version {current}." if current else "There is no champion yet.")
        with ui.row().classes("items-center"):
            choice = ui.select(options, label="Version", value=next(iter(options))).classes("w-64").mark(
                "promote-version"
            )
            ui.button("Promote…", icon="military_tech", on_click=lambda: dialog_for(choice.value).open()).mark(
                "promote-button"
            )

    def dialog_for(version: str) -> ui.dialog:
        with ui.dialog() as dialog, ui.card().mark("promote-dialog"):
            ui.label(f"Make version {version} the champion? Predict serves it from its next model check.")
            user = ui.input("Admin user").mark("admin-user")
            password = ui.input("Admin password", password=True).mark("admin-password")
            error = ui.label("").classes("text-negative").mark("promote-error")
            with ui.row():
                ui.button("Cancel", on_click=dialog.delete).props("flat")
                confirm = ui.button("Confirm", color="negative").mark("promote-confirm")

        async def on_confirm() -> None:
            confirm.disable()
            _, problem = await load(lambda: backend.promote(version, user.value or "", password.value or ""))
            confirm.enable()
            if problem:
                error.text = problem
                return
            ui.notify(f"version {version} is now the champion", type="positive")
            dialog.close()
            await on_promoted()  # rebuilds the page's body, and deletes this dialog with it

        confirm.on_click(on_confirm)
        return dialog
