"""Models page: versions with aliases; promoting needs confirmation and the admin credentials."""

import pytest

from tests.ui.fake_backend import MLFLOW_DOWN

pytestmark = pytest.mark.asyncio


async def open_promote_dialog(user, version_label: str):
    await user.open("/models")
    user.find(marker="promote-version").click()
    user.find(version_label).click()
    user.find(marker="promote-button").click()
    await user.should_see(marker="promote-dialog")


async def test_lists_versions_with_aliases(user):
    await user.open("/models")
    await user.should_see(marker="versions-table")
    table = user.find(marker="versions-table").elements.pop()
    assert [(row["version"], row["aliases"]) for row in table.rows] == [("1", "-"), ("2", "-"), ("3", "champion")]
    await user.should_see("The champion is version 3.")


async def test_wrong_credentials_do_not_promote(user, backend):
    await open_promote_dialog(user, "version 2 · random_forest")
    user.find(marker="admin-user").type("admin")
    user.find(marker="admin-password").type("guess")
    user.find(marker="promote-confirm").click()
    await user.should_see("wrong admin user or password (the gateway's basic-auth credentials)")
    assert backend.promoted == []


async def test_admin_promotes_after_confirming(user, backend):
    await open_promote_dialog(user, "version 2 · random_forest")
    await user.should_see("Make version 2 the champion? Predict serves it from its next model check.")
    user.find(marker="admin-user").type("admin")
    user.find(marker="admin-password").type("s3cret")
    user.find(marker="promote-confirm").click()
    await user.should_see("version 2 is now the champion")
    await user.should_see("The champion is version 2.")
    assert backend.promoted == ["2"]


async def test_cancel_leaves_the_champion(user, backend):
    await open_promote_dialog(user, "version 1 · logistic_regression")
    user.find("Cancel").click()
    await user.should_not_see(marker="promote-dialog")
    assert backend.promoted == []


async def test_mlflow_down_shows_a_banner(user, backend):
    backend.down.add("mlflow")
    await user.open("/models")
    await user.should_see(MLFLOW_DOWN)
    await user.should_see("Versions unavailable (see the banner above).")
    await user.should_not_see(marker="promote-button")
