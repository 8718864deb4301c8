# mailsift IMAPSieve: a message moved or copied out of Junk is ham for this user, unless it goes
# to the Trash. Install as /etc/dovecot/sieve/report-ham.sieve.
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.mailbox" "*" {
  set "mailbox" "${1}";
}
if string "${mailbox}" "Trash" {
  stop;
}
pipe :copy "mailsift-learn-ham";
