#!/usr/bin/perl
# prepared.pl PORT: drives MariaDB through DBD::MariaDB with server-side
# prepared statements (binary COM_STMT_PREPARE/EXECUTE/CLOSE), errors in
# both, a procedure with several result sets, COM_PING and COM_QUIT.
use strict;
use warnings;
use DBI;

my $port = shift or die "usage: prepared.pl PORT\n";
my $dbh = DBI->connect(
	"DBI:MariaDB:database=flowdb;host=127.0.0.1;port=$port;mariadb_server_prepare=1",
	"flow", "flowpass", { RaiseError => 0, PrintError => 0, AutoCommit => 1 })
	or die $DBI::errstr;

my $sth = $dbh->prepare("SELECT id, v FROM t WHERE id > ? ORDER BY id");
$sth->execute(0);
1 while $sth->fetchrow_arrayref;
$sth->execute(2);
1 while $sth->fetchrow_arrayref;
$sth->finish;
undef $sth;

my $ins = $dbh->prepare("INSERT INTO t (v) VALUES (?)");
$ins->execute("p1");
$ins->execute("p2");
undef $ins;

my $dup = $dbh->prepare("INSERT INTO t (id, v) VALUES (?, ?)");
$dup->execute(1, "dup");    # ERR 1062 in reply to COM_STMT_EXECUTE
undef $dup;

my $bad = $dbh->prepare("SELEC nope FROM t WHERE id = ?");    # ERR in reply to COM_STMT_PREPARE
$bad->execute(1) if $bad;

$dbh->{mariadb_server_prepare} = 0;
$dbh->do("DROP PROCEDURE IF EXISTS p");
$dbh->do("CREATE PROCEDURE p() BEGIN SELECT 1 AS a; SELECT 2 AS b, 3 AS c; END");
$dbh->{mariadb_server_prepare} = 1;
my $call = $dbh->prepare("CALL p()");
$call->execute;
do { 1 while $call->fetchrow_arrayref } while ($call->more_results);
undef $call;

$dbh->ping;
$dbh->disconnect;
