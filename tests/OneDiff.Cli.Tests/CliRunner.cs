using System.CommandLine;

namespace OneDiff.Cli.Tests;

/// <summary>Runs one onediff command in-process and captures what it prints.</summary>
internal static class CliRunner
{
    static readonly SemaphoreSlim ConsoleLock = new(1, 1);

    public static (int ExitCode, string Out, string Err) Run(Command command, params string[] args)
    {
        ConsoleLock.Wait();
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        try
        {
            Console.SetOut(o);
            Console.SetError(e);
            var root = new RootCommand { command };
            int code = root.Parse([command.Name, .. args]).Invoke();
            return (code, o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
            ConsoleLock.Release();
        }
    }
}
