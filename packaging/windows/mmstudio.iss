; The Windows installer of mmstudio, for Inno Setup 6 (https://jrsoftware.org/isinfo.php).
; It installs the one-folder build (dist\mmstudio\, from packaging/build.sh), a Start-menu shortcut, and
; the file type of saved model specs, so that double-clicking one opens it in mmstudio. Build it on
; Windows after the app:
;   packaging/build.sh                                 (Git Bash: builds the app, then this installer
;                                                       when Inno Setup's iscc is installed)
;   iscc packaging\windows\mmstudio.iss                (or by hand, from the repository root)
; The installer is dist\mmstudio-VERSION-setup.exe. tests/packaging/test_packaging.py checks this file
; (iscc does not run on Linux); packaging/README.md says what was and was not tried.

#define AppName "mmstudio"
; mmstudio.__version__ (pyproject.toml reads it from there); a test fails when they differ.
#define AppVersion "0.2.0"
#define AppExe "mmstudio.exe"
; The folder PyInstaller built into (packaging/build.sh passes its DISTPATH), relative to the repository.
#ifndef DistDir
#define DistDir "dist"
#endif
; The file type of saved model specs (packaging/linux/mmstudio-mime.xml). Explorer tells a file's type by
; the last part of its name only, so a *.mmspec.json is a .json to it: mmstudio owns .mmspec (what Save
; suggests on Windows) and offers itself under Open with for .json, never as the default.
#define SpecProgId "mmstudio.ModelSpec.1"
#define SpecTypeName "mmstudio model spec"
#define SpecExt ".mmspec"
#define SpecMimeType "application/x-mmstudio-model-spec+json"

[Setup]
; The installer's identity: never change it, or an update installs beside the old version.
AppId={{37C2A3BA-722E-4300-BFA3-8D13241C58CD}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=The mmstudio developers
AppPublisherURL=https://github.com/mmstudio/mmstudio
AppSupportURL=https://github.com/mmstudio/mmstudio/issues
; Paths below are relative to the repository root.
SourceDir=..\..
OutputDir={#DistDir}
OutputBaseFilename=mmstudio-{#AppVersion}-setup
SetupIconFile=packaging\build\mmstudio.ico
UninstallDisplayIcon={app}\{#AppExe}
; For the current user without administrator rights, or for all users (the installer asks); {autopf},
; {autoprograms} and HKA follow the choice (HKA: HKCU or HKLM).
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
DefaultDirName={autopf}\{#AppName}
DisableProgramGroupPage=yes
; PyTorch's Windows wheels are x64 only.
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Explorer re-reads the file types at the end of the installation and of the uninstallation.
ChangesAssociations=yes
Compression=lzma2
SolidCompression=yes
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#DistDir}\mmstudio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
; The icon of the app and of its spec files, made by packaging/build.sh from resources/icons/.
Source: "packaging\build\mmstudio.ico"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\mmstudio.ico"; Comment: "Build, train and compare text + image deep-learning models"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\mmstudio.ico"; Tasks: desktopicon

[Registry]
; The ProgID of model specs: its name, its icon, and how Explorer opens one ("%1" quoted: paths have spaces).
Root: HKA; Subkey: "Software\Classes\{#SpecProgId}"; ValueType: string; ValueName: ""; ValueData: "{#SpecTypeName}"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\{#SpecProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\mmstudio.ico,0"
Root: HKA; Subkey: "Software\Classes\{#SpecProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
; .mmspec: opened by mmstudio (its default ProgID, and listed under Open with).
Root: HKA; Subkey: "Software\Classes\{#SpecExt}"; ValueType: string; ValueName: ""; ValueData: "{#SpecProgId}"; Flags: uninsdeletevalue uninsdeletekeyifempty
Root: HKA; Subkey: "Software\Classes\{#SpecExt}"; ValueType: string; ValueName: "Content Type"; ValueData: "{#SpecMimeType}"; Flags: uninsdeletevalue uninsdeletekeyifempty
Root: HKA; Subkey: "Software\Classes\{#SpecExt}\OpenWithProgids"; ValueType: string; ValueName: "{#SpecProgId}"; ValueData: ""; Flags: uninsdeletevalue uninsdeletekeyifempty
; .json (so *.mmspec.json, JSON manifests and COCO captions): mmstudio under Open with only.
Root: HKA; Subkey: "Software\Classes\.json\OpenWithProgids"; ValueType: string; ValueName: "{#SpecProgId}"; ValueData: ""; Flags: uninsdeletevalue

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
