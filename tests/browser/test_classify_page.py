"""A volunteer on a phone, not signed in, classifying galaxies in a real headless Chromium."""

import pytest

from labeling.services import add_subjects, create_project
from mlmodels.synthetic_galaxies import make_galaxy
from observations.images import add_target_images
from observations.models import Target
from portal.tenancy import tenant_context
from tests.browser.test_live_pages import sign_in
from tests.labeling.test_workflows import SIMPLE

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    yield context.new_page()
    context.close()


def test_an_anonymous_volunteer_classifies_by_keys_and_taps_and_sees_the_counter_move(
    browser, phone, live_server_url, committed_tenant_factory
):
    tenant, users = committed_tenant_factory()
    with tenant_context(tenant):
        targets = [Target.objects.create(tenant=tenant, name=f"G{i}", ra_deg=20 + i, dec_deg=5) for i in range(4)]
        images = add_target_images(tenant, [(t, make_galaxy(i, size=32).fits_bytes(), "test")
                                            for i, t in enumerate(targets)])  # fmt: skip
        project = create_project(tenant, users["admin"], name="Shapes", slug="shapes", tree=SIMPLE,
                                 visibility="public")  # fmt: skip
        add_subjects(project, images)
    owner = browser.new_context().new_page()  # the project's owner watches its page on a desktop
    sign_in(owner, live_server_url, users["admin"].username)
    owner.wait_for_url(f"{live_server_url}/t/{tenant.slug}/")
    owner.goto(f"{live_server_url}/t/{tenant.slug}/projects/{project.pk}/")
    phone.goto(f"{live_server_url}/projects/{tenant.slug}/shapes/")
    counter = phone.locator('#counter [data-live-count="classifications"]')
    assert counter.inner_text() == "0"
    phone.wait_for_function("document.getElementById('subject-image').naturalWidth > 0")
    first = phone.get_attribute("#subject-image", "src")
    assert phone.inner_text("#question") == "What shape is it?"
    # Keys: 2 (a disk), Backspace (back to the first question), 2 again, then 1 (arms: yes).
    phone.keyboard.press("2")
    assert phone.inner_text("#question") == "Does it have spiral arms?"
    phone.keyboard.press("Backspace")
    assert phone.inner_text("#question") == "What shape is it?"
    phone.keyboard.press("2")
    phone.keyboard.press("1")
    phone.wait_for_function("document.querySelector('#counter [data-live-count=classifications]').textContent === '1'")
    assert phone.get_attribute("#subject-image", "src") != first, "the next galaxy is on screen"
    phone.wait_for_selector("#after:not([hidden])")  # the answer to the submit (the counter may come first, pushed)
    assert "1 volunteer(s) said" in phone.inner_text("#after") and "disk" in phone.inner_text("#after")
    # Taps: the first answer's button.
    phone.tap("#answers button >> text=Round")
    phone.wait_for_function("document.querySelector('#counter [data-live-count=classifications]').textContent === '2'")
    phone.wait_for_function("document.querySelector('#counter [data-live-count=mine]').textContent === '2'")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling on a phone"
    # Another volunteer, elsewhere, classifies: this page's counter moves without a click here.
    other = browser.new_context().new_page()
    other.goto(f"{live_server_url}/projects/{tenant.slug}/shapes/")
    other.wait_for_selector("#answers button")
    other.keyboard.press("1")
    other.wait_for_function("document.querySelector('#counter [data-live-count=classifications]').textContent === '3'")
    phone.wait_for_function("document.querySelector('#counter [data-live-count=classifications]').textContent === '3'")
    assert phone.locator('#counter [data-live-count="mine"]').inner_text() == "2", "the other volunteer's is not mine"
    owner.wait_for_function("document.querySelector('#progress [data-live-count=classifications]').textContent === '3'")
    owner.context.close()
    other.context.close()
    with tenant_context(tenant):
        assert sorted(project.classifications.values_list("answers", flat=True)) == [
            [["shape", "disk"], ["arms", "yes"]], [["shape", "round"]], [["shape", "round"]]]  # fmt: skip
