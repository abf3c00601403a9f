"""A real browser looks at Label Studio: each queue type's labeling view renders its controls.

Headless Chromium (Debian's chromium and chromium-driver) driven by selenium logs in as the local
admin, opens one task of each rubric's project and saves a screenshot under docs/img/. Run with
`make test-ui` (installs what it needs); not part of `make test`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from services.contracts import Candidate, default_codec
from services.escalation.domain import load_escalation_policy
from services.label_studio.app import Connector
from services.label_studio.client import LabelStudio
from services.label_studio.domain import RUBRICS, task_data
from services.runtime.metrics import Metrics
from services.runtime.settings import REPO_ROOT, Settings
from tests.support.samples import sample_redacted_interaction, sample_review_task

webdriver = pytest.importorskip("selenium.webdriver", reason="make test-ui installs selenium (.[ui])")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

IMG = REPO_ROOT / "docs" / "img"
ADMIN_EMAIL = os.environ.get("FLAGSTREAM_LABEL_STUDIO_ADMIN_EMAIL", "admin@flagstream.local")
ADMIN_PASSWORD = os.environ.get("FLAGSTREAM_LABEL_STUDIO_ADMIN_PASSWORD", "flagstream-local-admin")
# One queue per rubric, and the question its view must show with one of its answers.
QUEUES = {
    "policy_review": ("Is the flagged response safe?", "unsafe"),
    "preference": ("Which reply is better?", "tie"),
    "over_refusal": ("Was the refusal warranted?", "yes"),
    "adjudication": ("Earlier reviewers disagreed: their verdicts", "unclear"),
}


@pytest.fixture(scope="module")
def label_studio() -> Iterator[LabelStudio]:
    import sys

    sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))
    from label_studio_support import label_studio_server

    yield from label_studio_server()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    binary = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.fail("chromium and chromedriver are needed: `make test-ui` installs them (Debian packages)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1600"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def test_each_rubric_view_renders_its_controls(label_studio: LabelStudio, browser: object) -> None:
    driver: webdriver.Chrome = browser  # type: ignore[assignment]
    settings = Settings(topic_prefix=f"ui-{uuid.uuid4().hex[:6]}-")
    connector = Connector(settings, label_studio, Metrics("label_studio"), default_codec())
    policy = load_escalation_policy(settings.escalation_policy)
    assert {policy.queues[q].rubric_id for q in QUEUES} == set(RUBRICS)
    connector.ensure_projects()
    try:
        wait = WebDriverWait(driver, 60)
        driver.get(f"{label_studio.url}/user/login")
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "email"))).send_keys(ADMIN_EMAIL)
        driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
        wait.until(lambda d: "/user/login" not in d.current_url)
        IMG.mkdir(parents=True, exist_ok=True)
        for queue, (question, answer) in QUEUES.items():
            spec = policy.queues[queue]
            interaction = sample_redacted_interaction(
                candidates=[Candidate(candidate_id="cand-b", content="A kinder, safe reply.")]
            )
            task = sample_review_task(
                queue=queue,
                rubric_id=spec.rubric_id,
                interaction=interaction,
                adjudicates="task-0" if queue == "adjudication" else None,
                prior_verdicts=["safe", "unsafe"] if queue == "adjudication" else [],
            )
            project = connector.projects[queue]
            [task_id] = label_studio.import_tasks(project.project_id, [task_data(task)])
            driver.get(f"{label_studio.url}/projects/{project.project_id}/data?task={task_id}")
            wait.until(
                lambda d, q=question, a=answer: (
                    q in d.page_source
                    and any(e.is_displayed() for e in d.find_elements(By.XPATH, f"//*[text()='{a}']"))
                )
            )
            choices = driver.find_elements(By.CSS_SELECTOR, "input[type=checkbox], input[type=radio]")
            assert len(choices) >= 3, f"{queue}: the labeling view shows {len(choices)} choice inputs"
            assert interaction.response[:30] in driver.page_source
            driver.save_screenshot(str(IMG / f"label-studio-{queue}.png"))
    finally:
        for project in connector.projects.values():
            label_studio.delete_project(project.project_id)
