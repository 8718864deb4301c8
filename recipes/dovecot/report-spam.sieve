# mailsift IMAPSieve: a message moved or copied into Junk is spam for this user.
# Install as /etc/dovecot/sieve/report-spam.sieve.
require ["vnd.dovecot.pipe", "copy", "imapsieve"];

pipe :copy "mailsift-learn-spam";
