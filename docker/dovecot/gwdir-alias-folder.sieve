# gwdir: global Sieve script run before any personal one (sieve_before) for every LMTP delivery.
# Files mail sent to a sub-account alias into the alias's folder. The folder comes from the
# directory: Dovecot's userdb 1 (dovecot-ldap-userdb-alias.conf.ext) sets the plugin setting
# sieve_env_gwdir_folder to the alias's gwAliasFolder for that one recipient; for every other
# recipient it is empty (dovecot.conf's default), and this script does nothing (implicit keep:
# INBOX). `:create` makes the folder on first delivery; nothing else creates folders by mail.
# No placeholders. Compiled once with `sievec` (mail-entrypoint.sh); Dovecot recompiles it in
# memory if the binary is missing or stale.
require ["fileinto", "mailbox", "variables", "vnd.dovecot.environment"];
if string :matches "${env.vnd.dovecot.config.gwdir_folder}" "?*" {
  fileinto :create "${env.vnd.dovecot.config.gwdir_folder}";
  stop;
}
