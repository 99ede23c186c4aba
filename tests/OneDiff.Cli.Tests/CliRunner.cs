using System.CommandLine;

namespace OneDiff.Cli.Tests;

/// <summary>Runs one onediff command in-process, through the program's own entry (parse errors,
/// the error rule and exit codes as <c>onediff</c> has them), and captures what it prints.</summary>
internal static class CliRunner
{
    static readonly SemaphoreSlim ConsoleLock = new(1, 1);

    public static (int ExitCode, string Out, string Err) Run(Command command, params string[] args) => Run(command, CancellationToken.None, args);

    /// <summary>With <paramref name="cancel"/> as the token Ctrl+C would cancel.</summary>
    public static (int ExitCode, string Out, string Err) Run(Command command, CancellationToken cancel, params string[] args)
    {
        ConsoleLock.Wait();
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        try
        {
            Console.SetOut(o);
            Console.SetError(e);
            var root = new RootCommand { command };
            int code = CliAction.InvokeAsync(root, [command.Name, .. args], cancel).GetAwaiter().GetResult();
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
