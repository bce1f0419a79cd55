"""frontdesk's directory backend over LDAP (ldap3): Active Directory and OpenLDAP.

from automations.ldap import LdapConfig, LdapDirectory
directory = LdapDirectory(LdapConfig(url="ldaps://dc1.example.com", bind_dn=..., bind_password=...,
                                     base_dn="OU=Staff,DC=example,DC=com", flavor="ad", ca_file=...))
"""

from automations.ldap.backend import LdapDirectory
from automations.ldap.config import LdapConfig, LdapConfigError, config_from_settings

__all__ = ["LdapConfig", "LdapConfigError", "LdapDirectory", "config_from_settings"]
