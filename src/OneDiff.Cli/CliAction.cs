using System.CommandLine;
using System.Reflection;
using System.Runtime.InteropServices;
using OneDiff.Modeling.Training;

namespace OneDiff.Cli;

/// <summary>The exit codes of every <c>onediff</c> command (also in <c>onediff --help</c> and the README).</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>The data, a file or the work failed; the message names what (record, file, option of a config).</summary>
    public const int Failed = 1;
    /// <summary>The command line is wrong: an unknown or missing option, a value out of range, options that do not go together.</summary>
    public const int Usage = 2;
    /// <summary>The device or the machine ran out of memory; the message says which settings take less.</summary>
    public const int OutOfMemory = 3;
    /// <summary>Stopped by Ctrl+C (SIGINT), as shells report a process ended by it.</summary>
    public const int Cancelled = 130;

    public const string Help = "exit codes: 0 done; 1 a data, file or runtime error (its message; --verbose adds the stack trace); " +
        "2 a wrong command line; 3 out of memory (with the settings that take less); 130 cancelled (Ctrl+C)";
}

/// <summary>The command line is wrong; the message says what to give instead (exit code 2).</summary>
public sealed class UsageException : Exception
{
    public UsageException(string message) : base(message) { }
    public UsageException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Runs a library call that takes command-line values: its <see cref="ArgumentException"/>
    /// (a value out of range, an unknown name) is a usage error.</summary>
    public static T Check<T>(Func<T> call)
    {
        try { return call(); }
        catch (ArgumentException e) { throw new UsageException(e.Message, e); }
    }

    public static void Check(Action call) => Check(() => { call(); return 0; });
}

/// <summary>
/// One error rule for every command: an action returns its exit code, and whatever it throws is
/// reported here, by kind, as one line on stderr with its code (<see cref="ExitCodes"/>): no stack
/// trace unless <c>--verbose</c>. Each command registers its action through <see cref="Set"/>.
/// </summary>
public static class CliAction
{
    /// <summary>Sets <paramref name="action"/> as the command's action, with a <c>--verbose</c>
    /// option and the rule above. <paramref name="outOfMemoryAdvice"/>: what takes less memory in
    /// this command's options, said when it runs out.</summary>
    public static void Set(Command command, Func<ParseResult, CancellationToken, int> action, string? outOfMemoryAdvice = null)
    {
        var verbose = new Option<bool>("--verbose") { Description = "on an error, print its stack trace too" };
        command.Options.Add(verbose);
        command.SetAction((parse, cancel) => Task.FromResult(Run(() => action(parse, cancel), parse.GetValue(verbose), outOfMemoryAdvice, Console.Error)));
    }

    /// <summary>Runs <paramref name="action"/>, and reports what it throws on <paramref name="error"/>.</summary>
    public static int Run(Func<int> action, bool verbose, string? outOfMemoryAdvice, TextWriter error)
    {
        try { return action(); }
        catch (Exception thrown)
        {
            var e = Unwrap(thrown);
            var (code, message) = e switch
            {
                UsageException => (ExitCodes.Usage, $"error: {e.Message}"),
                OperationCanceledException => (ExitCodes.Cancelled, "cancelled: stopped before the work was done"),
                TrainingOutOfMemoryException => (ExitCodes.OutOfMemory, $"out of memory: {e.Message}"),
                _ when Modeling.Runtime.OutOfMemory.Is(e) => (ExitCodes.OutOfMemory,
                    $"out of memory: {Modeling.Runtime.OutOfMemory.Reason(e)}" + (outOfMemoryAdvice is null ? "" : $". Settings that take less: {outOfMemoryAdvice}")),
                NullReferenceException or IndexOutOfRangeException or InvalidCastException or NotImplementedException =>
                    (ExitCodes.Failed, $"error: {e.GetType().Name}: {e.Message} (a fault of onediff's own: --verbose prints where; please report it)"),
                _ => (ExitCodes.Failed, $"error: {e.Message}"),
            };
            error.WriteLine(message);
            if (verbose) error.WriteLine(thrown);
            return code;
        }
    }

    /// <summary>The exception that says what happened, out of the wrappers reflection and tasks put around it.</summary>
    static Exception Unwrap(Exception e) => e switch
    {
        TargetInvocationException { InnerException: { } inner } => Unwrap(inner),
        AggregateException { InnerExceptions: [var only] } => Unwrap(only),
        _ => e,
    };

    /// <summary>Parses and runs <paramref name="args"/> against <paramref name="root"/>: a command
    /// line that does not parse exits with <see cref="ExitCodes.Usage"/>, after System.CommandLine's
    /// own message; the running action sees <paramref name="cancel"/>.</summary>
    public static async Task<int> InvokeAsync(RootCommand root, string[] args, CancellationToken cancel = default)
    {
        var parse = root.Parse(args);
        // Termination signals are ours to handle (RunMain), not System.CommandLine's, whose default
        // ends the process two seconds after Ctrl+C: a training step may take longer than that.
        int code = await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, cancel);
        return parse.Errors.Count > 0 ? ExitCodes.Usage : code;
    }

    /// <summary>The program's entry: the first Ctrl+C (or SIGTERM) cancels the running action,
    /// which stops at its next safe point (training: after the step, writing a checkpoint where a
    /// folder is set) and exits with <see cref="ExitCodes.Cancelled"/>; a second one ends the
    /// process at once.</summary>
    public static async Task<int> RunMain(RootCommand root, string[] args)
    {
        using var stop = new CancellationTokenSource();
        int signals = 0;
        void OnSignal(PosixSignalContext context)
        {
            if (Interlocked.Increment(ref signals) > 1) return; // the default: the process ends now
            context.Cancel = true;
            Terminal.WorkProgress.ErrorLine("stopping at the next safe point; press Ctrl+C again to end at once");
            stop.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        return await InvokeAsync(root, args, stop.Token);
    }
}
