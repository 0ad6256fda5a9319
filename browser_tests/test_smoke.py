"""The browser harness itself: Chromium loads a page of ours, sees its script run, and stays on
this server."""


def test_the_api_docs_page_renders_from_this_server_alone(office, live, shot):
    page = office.new_page()
    page.goto("/docs")
    # Swagger UI is script-built: its title appears only if the bundled scripts ran.
    page.wait_for_selector(".swagger-ui .title", timeout=20_000)
    assert "Fieldsafe" in page.inner_text(".swagger-ui .title")
    assert shot(page, "api-docs").stat().st_size > 0
