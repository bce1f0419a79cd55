"""Entra ID (Azure AD): the app's own credentials (msal client credentials) for Microsoft's APIs."""
