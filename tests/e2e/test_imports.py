"""An organisation admin brings a clinic's patients in from its old system on the import page:
uploads the file, fixes a column the page could not recognise, reads the dry run and imports.
The worker is the tests' immediate backend, run as each request commits."""

from playwright.sync_api import expect

from patients.models import Patient, PatientImport

OLD_SYSTEM = """Client No,Given Name,Surname,Born,Email
K-1,Ana,Silva,12/04/1985,ana@example.test
K-2,Ben,Okafor,31/12/1979,
K-3,,Moreau,01/01/1990,
"""


def test_an_admin_maps_checks_and_imports_a_file_of_patients(world, open_as, tmp_path):
    export = tmp_path / "old-system.csv"
    export.write_text(OLD_SYSTEM, encoding="utf-8")

    page = open_as(world.org_admin)
    page.goto("/patients/")
    page.get_by_role("link", name="Import from another system").click()
    page.get_by_label("CSV file").set_input_files(str(export))
    page.get_by_label("The system it comes from").fill("PhysioSoft")
    page.get_by_label("Register the patients at").select_option(label="Kelowna (Kelowna Physio)")
    page.get_by_role("button", name="Upload and choose the columns").click()

    # "Born" and "Client No" are no headers Fascia knows: checking without a date of birth
    # names the field.
    expect(page.get_by_role("heading", name="Import of old-system.csv")).to_be_visible()
    expect(page.get_by_label("Last name")).to_have_value("Surname")
    page.get_by_role("button", name="Check the file (dry run)").click()
    expect(page.get_by_text("Date of birth: choose the column that holds it.")).to_be_visible()
    page.get_by_label("Date of birth").select_option("Born")
    page.get_by_label("Patient id (optional)").select_option("Client No")
    page.get_by_label("Dates in the file are written").select_option(label="DD/MM/YYYY")
    page.get_by_role("button", name="Check the file (dry run)").click()

    expect(page.locator("#start")).to_contain_text("Importing would register 2 new patients")
    expect(page.get_by_role("heading", name="Refused (1)")).to_be_visible()
    expect(page.locator("#refused")).to_contain_text("First name: empty")
    assert not Patient.objects.filter(imported_from="PhysioSoft").exists()

    page.get_by_role("button", name="Import 2 patients").click()
    expect(page.locator("#import-done")).to_contain_text("2 patients registered at Kelowna")
    ana = Patient.objects.get(imported_from="PhysioSoft", imported_id="K-1")
    assert (ana.first_name, ana.date_of_birth.isoformat()) == ("Ana", "1985-04-12")
    assert PatientImport.objects.get().imported_by == world.org_admin
    page.get_by_role("link", name="All imports").click()
    expect(page.get_by_role("heading", name="Imports done")).to_be_visible()
    expect(page.locator("main")).to_contain_text("old-system.csv")
