using System.Diagnostics;
using System.Text;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

/// <summary>
/// Runs <c>onediff</c> under Open MPI's <c>mpirun</c>, as a user launches a data-parallel job. The
/// tests that need it skip with the reason where mpirun is absent, except where
/// <c>ONEDIFF_REQUIRE_MPI=1</c> (CI, whose <c>.ci/run</c> installs Open MPI): there they fail.
/// </summary>
internal static class Mpi
{
    static readonly string? Mpirun = Environment.GetEnvironmentVariable("PATH")?.Split(':')
        .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    public static void Require()
    {
        if (Mpirun is not null) return;
        const string why = "needs Open MPI's mpirun (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev)";
        if (Environment.GetEnvironmentVariable("ONEDIFF_REQUIRE_MPI") == "1") Assert.Fail(why + "; ONEDIFF_REQUIRE_MPI=1 forbids skipping");
        Assert.Skip(why);
    }

    static string OneDiff => Path.Combine(AppContext.BaseDirectory, "onediff.dll");

    /// <summary>Starts <c>mpirun -np N dotnet onediff.dll args</c> in <paramref name="dir"/>.</summary>
    public static Process Start(int ranks, string dir, StringBuilder output, params string[] args)
    {
        Require();
        var start = new ProcessStartInfo(Mpirun!) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-np", $"{ranks}", "--oversubscribe", "--bind-to", "none", "dotnet", OneDiff }.Concat(args)) start.ArgumentList.Add(a);
        // Containers and CI run as root, which mpirun refuses unless told both of these.
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        var p = new Process { StartInfo = start };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>Runs to the end (at most <paramref name="timeout"/>) and returns the exit code and everything printed.</summary>
    public static (int Code, string Output) Run(int ranks, string dir, TimeSpan timeout, params string[] args)
    {
        var output = new StringBuilder();
        using var p = Start(ranks, dir, output, args);
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"mpirun -np {ranks} {string.Join(' ', args)} did not end within {timeout.TotalSeconds:F0} s:\n{output}");
        }
        p.WaitForExit();
        lock (output) return (p.ExitCode, output.ToString());
    }

    /// <summary>The process of the job with this rank (by the OMPI_COMM_WORLD_RANK mpirun gave it).</summary>
    public static int? ProcessOfRank(int rank)
    {
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                var environment = File.ReadAllText(Path.Combine(dir, "environ")).Split('\0');
                if (environment.Contains($"OMPI_COMM_WORLD_RANK={rank}") && File.ReadAllText(Path.Combine(dir, "cmdline")).Contains("onediff.dll")) return pid;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return null;
    }
}
