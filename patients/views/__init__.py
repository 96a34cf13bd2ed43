"""The patient pages: `staff` for the clinic, `portal` for the patient, `clinical` for the
forms both use, `scope` for how each side finds its patient."""
