// The `nativecnn` command's process entry point; everything else is in Cli (testable in-process).
return NativeCnn.Cli.Cli.Run(args, Console.Out, Console.Error);
