// The `nativecnn` command's process entry point; everything else is in Cli (testable in-process).
// The engine's warnings go to stderr here (a library default would drop them).
NativeCnn.NativeCnnLogging.LoggerFactory = new NativeCnn.Cli.StderrLoggerFactory(Console.Error);
return NativeCnn.Cli.Cli.Run(args, Console.Out, Console.Error);
