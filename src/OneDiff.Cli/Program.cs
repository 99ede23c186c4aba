using System.CommandLine;
using OneDiff.Cli;
using OneDiff.Cli.Commands;

var root = new RootCommand("onediff: image difference captioning (OneDiff) for .NET\n\n" + ExitCodes.Help);
root.Subcommands.Add(DeviceCommand.Create());
root.Subcommands.Add(CheckpointCommand.Create());
root.Subcommands.Add(EvaluateCommand.Create());
root.Subcommands.Add(SynthCommand.Create());
root.Subcommands.Add(DataCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(CaptionCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(ReportCommand.Create());
return await CliAction.RunMain(root, args);
