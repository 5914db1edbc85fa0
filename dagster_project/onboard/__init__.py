"""Onboarding: `foundation sources add` turns landed files into a declared, gated, modelled source."""
