using System.CommandLine;
using OneDiff.Modeling.Runtime;

namespace OneDiff.Cli.Commands;

/// <summary><c>onediff device [--device SPEC]</c>: which device a run would use, and how TorchSharp was loaded.</summary>
public static class DeviceCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N", DefaultValueFactory = _ => "auto" };
        var command = new Command("device", "Show the device a run would use and how TorchSharp's native library was loaded") { device };
        CliAction.Set(command, (parse, _) =>
        {
            var resolved = UsageException.Check(() => DeviceSelector.Resolve(parse.GetValue(device)));
            Console.WriteLine($"device: {resolved.Name} ({resolved.Reason})");
            Console.WriteLine($"cuda devices: {DeviceSelector.CudaDeviceCount()}");
            Console.WriteLine("native loader:");
            foreach (var line in TorchNativeLoader.Trace.Split('\n')) Console.WriteLine("  " + line.TrimEnd());
            return ExitCodes.Success;
        });
        return command;
    }
}
