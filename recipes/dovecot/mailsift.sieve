# mailsift: filter every delivery and file spam into Junk (see 90-mailsift.conf).
# Install as /etc/dovecot/sieve/mailsift.sieve.
require ["vnd.dovecot.filter", "fileinto", "mailbox"];

# As a test, filter is false when the program is missing or fails (non-zero exit, killed): the
# message then goes on unchanged, to the user's script and the inbox. The wrapper makes a
# fail-open classify exit 0, so its output (rules alone, when the database is unusable) is used.
if filter "mailsift" {
  # :create makes Junk on first use; without it fileinto fails while Junk does not exist.
  if header :is "X-Spam-Flag" "YES" {
    fileinto :create "Junk";
    stop;
  }
}
