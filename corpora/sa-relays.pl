#!/usr/bin/perl
# Prints SpamAssassin's trust path for each message file named on stdin (one path a line):
#   == PATH
#   Trusted: ...  Untrusted: ...  Internal: ...  External: ...  (X-Spam-Relays-*)
#   unparseable: N
# Only SpamAssassin's metadata extraction runs (with the stock default preferences): no rules, no network, no user state. Used by
# the trust-path test in classifier/src/rules/trust_tests.rs to compare mailsift's relays.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Mail::SpamAssassin;
use Mail::SpamAssassin::PerMsgStatus;

my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/$_" for qw(site rules home);
# The stock default preferences (originating_ip_headers) apply, as in a real run.
for my $prefs (glob('/var/lib/spamassassin/*/*/10_default_prefs.cf'),
               '/usr/share/spamassassin/10_default_prefs.cf') {
  next unless -f $prefs;
  system('cp', $prefs, "$dir/rules/") == 0 or die "cannot copy $prefs";
  last;
}
my $sa = Mail::SpamAssassin->new({
  local_tests_only => 1, dont_copy_prefs => 1, userprefs_filename => '/dev/null',
  site_rules_filename => "$dir/site", rules_filename => "$dir/rules",
  home_dir_for_helpers => "$dir/home",
});
$sa->init(1);
while (my $path = <STDIN>) {
  chomp $path;
  open(my $fh, '<', $path) or die "cannot read $path: $!";
  my $text = do { local $/; <$fh> };
  close $fh;
  my $msg = $sa->parse($text);
  my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $msg);
  $pms->extract_message_metadata();
  print "== $path\n";
  for my $h (qw(Trusted Untrusted Internal External)) {
    print "$h: ", ($msg->get_metadata("X-Spam-Relays-$h") // ''), "\n";
  }
  print "unparseable: ", ($pms->{num_relays_unparseable} || 0), "\n";
  $pms->finish();
  $msg->finish();
}
