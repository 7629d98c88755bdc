// The UI's own words in zh-CN (default) and English. Domain labels (visit
// kinds, faults, steps...) come from the core's vocabulary, never from here.
import type { Term } from './api';

export type Locale = 'zh' | 'en';

const zh = {
  appName: 'POS 运维', today: '今日工单', sync: '同步', settings: '设置', back: '返回', save: '保存', cancel: '取消',
  enrolTitle: '绑定手机', enrolHint: '扫描或粘贴后台提供的绑定链接（posfield://…），或输入服务器地址和绑定码。绑定一次即可，之后离线也能工作。',
  server: '绑定链接或服务器地址', code: '绑定码', enrol: '绑定', enrolDone: '绑定成功', enrolledAs: '已绑定：',
  filterAll: '全部', filterWaiting: '待同步', waitingToSync: '待同步', synced: '已同步',
  newVisit: '新建工单', kind: '工单类型', merchant: '商户名称', merchantNumber: '商户号', terminalNumber: '终端号',
  phone: '注册手机号', address: '地址', merchantDetails: '商户信息（可更正）', create: '创建', noVisits: '没有工单', moreVisits: '还有更多工单，请用筛选查看',
  returnedNote: '后台退回：{note}', readOnlyNewer: '这个工单是由更新版本的应用写入的，只能查看。请更新应用后再修改。', checklist: '检查清单', missing: '完成前还差', nothingMissing: '所有必填项已完成，可以提交',
  complete: '完成工单', completed: '工单已提交，等待后台审核', markDone: '完成', skip: '跳过', notApplicable: '不适用', undo: '撤销',
  skipReason: '跳过原因', optional: '选填', stepDone: '已完成', stepSkipped: '已跳过', stepPending: '待完成', stepNa: '不适用',
  notApplicableHere: '本次不涉及',
  identify: '识别终端', identifyTitle: '识别终端机身号', replacementTitle: '新终端机身号', serial: '机身号 (SN)',
  takePhoto: '拍摄标签照片', choosePhoto: '选择标签照片', typeSerial: '手动输入机身号', record: '记录', scanNfc: 'NFC 读取',
  liveScan: '扫码', decoding: '正在识别…', decodedSerial: '识别到的机身号', alternatives: '标签上的其他号码，点选更正',
  useThis: '用这个', confirmSerial: '确认无误',
  notExpected: '派单机身号 {expected} 不在标签上，可能不是这台终端。请核对后点选标签上的号码，或重拍。',
  severalSerials: '标签上有多个可能的机身号。', unknownFormat: '无法确定这个号码是否为机身号。',
  readingIncomplete: '照片未能完整识别，可能漏掉了机身号条码。',
  tapTheSerial: '请对照标签，点选机身号（SN）：', nfcHold: '请将手机贴近终端背面的 NFC 标签',
  faults: '故障', addFault: '记录故障', category: '故障类别', symptom: '故障现象', recommended: '建议现场处理步骤',
  tried: '已尝试', fixedIt: '已解决', notFixed: '未解决', recordAttempt: '记录尝试', otherAttempt: '其他处理（说明）',
  resolveFixed: '故障已修复', resolveNotFixed: '无法现场修复', faultOpen: '处理中', faultFixed: '已修复', faultNotFixed: '未修复',
  photos: '资料照片', photoKind: '照片类型', addPhoto: '拍照 / 选择照片', retake: '重拍', remove: '删除', noPhotos: '还没有照片',
  onlyOnServer: '审核通过后已按规定从手机删除，服务器保留',
  wanted: '本工单需要', onPhone: '仅在手机上', confirmedByServer: '服务器已确认', sending: '正在发送', sent: '已发送，待确认',
  details: '其他信息', sim: '流量卡', iccid: 'ICCID', carrier: '运营商', expiry: '到期日', simAction: '处理方式',
  newIccid: '新卡 ICCID', newExpiry: '新到期日', backup: '数据备份', confirmBackup: '确认已备份', warranty: '保修状态',
  repairPlan: '维修方案', fee: '维修费用（元）', cause: '停用原因', application: '复机申请', submitApplication: '提交申请',
  replacement: '新终端', saved: '已保存',
  acceptance: '验收签字', summaryTitle: '服务确认单', locked: '已锁定', waitsFor: '等待后台审批', signerName: '签字人姓名', signHere: '请商户在此处签字',
  clear: '重写', confirmSign: '确认签字', signedBy: '{name} 已签字', signatureValid: '签字有效，内容未改动',
  signatureChanged: '签字后内容已更改，需要商户重新签字', changedFields: '改动：{fields}', signAgain: '重新签字',
  handToMerchant: '请将手机交给商户核对并签字', otherPhotos: '其他照片', turnLeft: '向左转', turnRight: '向右转', usePhoto: '使用这张', cropHint: '在照片上拖动，框出要保留的部分', cropClear: '不裁剪', openPad: '请商户签字', turnPhone: '请横握手机签字', verifyTitle: '商户扫码核对', verifyHint: '同步到服务器后，商户扫码即可查看签字内容，并核对是否与签字时一致。', verifyUnavailable: '手机尚未注册到服务器，暂无核对二维码。', needSigner: '请先填写签字人姓名',
  call: '拨打 {phone}', noAddress: '派单没有地址，请向后台或商户确认。',
  syncTitle: '同步', syncNow: '立即同步', lastSuccess: '上次成功同步', never: '从未', agent: '业务员', serverAddr: '服务器',
  status: '状态', syncing: '正在同步…', syncOk: '全部已同步', syncWaiting: '{n} 个工单待同步',
  documents: '工单', bytes: '照片', visitsWaiting: '待同步的工单', recentSynced: '已同步的工单',
  failuresInRow: '连续失败 {n} 次', photoStates: '照片状态', signature: '签字',
  language: 'English', visitCount: '手机上共 {n} 个工单',
  terminalDetails: '终端型号和生产日期', newTerminalDetails: '新终端型号和生产日期', model: '型号', manufacturer: '厂商（选填）',
  productionDate: '生产日期', ageYears: '机龄：{n} 年', ageUnderOne: '机龄：不满 1 年', productionDateLater: '生产日期不能晚于今天',
  detailsNext: '机身号已记录，请再填写标签上的型号和生产日期', identifyFirst: '请先识别机身号，再填写型号和生产日期',
  parameters: '参数配置', parametersDownloaded: '参数已下载', keysDownloaded: '密钥已下载',
  networkTest: '网络测试', networkLink: '联网方式', testPassed: '签到成功（测试通过）', passed: '通过', failed: '未通过', note: '备注（选填）',
  restore: '数据恢复', restoredItems: '已恢复到新终端的数据', confirmRestore: '确认已恢复',
  declineBackup: '商户拒绝备份', waiverStatement: '商户确认：拒绝备份本终端的数据（日结报表、交易记录、结算单），并签字为证。',
  waiverReason: '拒绝原因（选填）', confirmWaiver: '确认拒绝备份并签字', waivedBy: '商户拒绝备份，{name} 已签字',
  deregistration: '注销记录', unbindReference: '解绑流水号', settledBalance: '结清金额（元）', settlementPhoto: '拍摄结清证明',
  followUp: '回访日期', followUpNote: '回访时检查什么（选填）', inDays: '{n} 天后', followUpsToday: '今日回访', followUpOn: '回访：{day}',
  recorded: '已记录', notRecorded: '尚未记录',
  handover: '回收终端交接', handoverCondition: '外观和配件情况', conditionIntact: '外观完好', conditionScratched: '屏幕有划痕',
  conditionMissingParts: '缺配件', handoverSeal: '封签号或袋号（选填）', handoverPhoto: '选择一张终端照片',
  handoverNoPhoto: '还没有终端照片，请先拍一张。', takeTerminalPhoto: '拍摄终端照片', handoverPhotoNeeded: '交接记录须附一张终端照片。',
  handoverPhotoRemoved: '记录的照片已删除，请重新选择一张并保存。', handoverIdentifyFirst: '请先识别终端机身号，再记录交接。',
  handoverSave: '保存交接记录', handoverConditionShown: '外观：{condition}', handoverSealShown: '封签号：{seal}',
  handoverNoPhotoShown: '未附照片', handoverPhotoShown: '照片：{state}', backToHandover: '返回回收终端交接',
  photosWifiOnly: '照片仅在 Wi-Fi 下上传', photosWifiOnlyHint: '用移动数据时，工单资料照常立即上传，照片和签字图片等连上 Wi-Fi 后再传。',
  photosWaitingWifi: '{n} 张照片等待 Wi-Fi', photosWaitWifiShort: '已上传，照片等 Wi-Fi', visitsWaitingPhotos: '工单已上传，{n} 张照片等待 Wi-Fi',
  networkNow: '当前网络', networkWifi: 'Wi-Fi', networkCellular: '移动数据', networkUnknown: '无法判断',
  networkUnknownHint: '手机无法判断当前网络，照片照常上传：证据留在手机上比多用流量风险更大。',
  resumedSync: '上次同步被中断（应用被关闭），正在继续，数据没有丢失。',
  dataUsed: '同步流量', dataTotal: '合计', dataOther: '其他（同步核对等）', dataSentReceived: '上传 {sent} · 下载 {received}',
  dataMore: '另有 {n} 个工单', dataNotCounted: '只计请求和应答的内容，不含 HTTP 头和加密开销，实际流量略多。',
  offline: '离线', offlineState: '离线 · 已保存在手机上 · {n} 项待上传', offlineHint: '没有信号很正常：所有数据都保存在手机上，有信号时自动发送，不用做任何操作。',
  retryAt: '{when}自动重试', syncProblem: '同步遇到问题，需要处理',
  jobsOfDay: '当天工单', overdueJobs: '已逾期', unplannedJobs: '未排期', allVisits: '全部工单',
  prevDay: '前一天', nextDay: '后一天', backToToday: '回到今天', wholeDay: '全天', plannedFor: '原定 {day}',
  noJobsThatDay: '这一天没有工单', searchJobs: '搜索商户、商户号、机身号、电话', searchNone: '没有找到匹配的工单',
  searchResults: '搜索结果 {n} 条', navigate: '导航', mapAmap: '高德地图', mapBaidu: '百度地图', mapApple: '苹果地图',
  moveUp: '上移 {merchant}', moveDown: '下移 {merchant}', callShort: '电话', showAll: '显示全部 {n} 个',
  news: '消息', newsUnseen: '消息，{n} 条未读', newsNone: '还没有消息。同步后，新工单、退回和审批结果会显示在这里。',
  newsNewJob: '新工单', newsReturned: '工单被退回', newsApplicationApproved: '复机申请已批准', newsApplicationRejected: '复机申请被驳回',
  newsReplanned: '工单改期', newsCancelled: '工单已取消', newsPlanned: '预约：{day}', newsNoDay: '不再限定日期', newsReason: '原因：{reason}',
  tripAccept: '接单', tripDepart: '出发', tripArrive: '到达签到', tripAccepted: '已接单', tripDeparted: '已出发', tripArrived: '已到达',
  tripTitle: '行程', tripAt: '{what} {at}', tripLocation: '位置：{where}（误差约 {m} 米）', tripLocationNoAccuracy: '位置：{where}',
  noFixRefused: '位置：未获授权，只记录了到达时间', noFixUnavailable: '位置：手机无法定位，只记录了到达时间', noFixTimeout: '位置：定位超时，只记录了到达时间',
  arrivedSaved: '已签到到达', locating: '正在定位…',
  removePhotoAsk: '删除这张照片？删除后需要重新拍摄。', removePhotoYes: '确定删除',
  terminalHistory: '机具档案', simExpiry: '流量卡到期', warrantyEnd: '保修到期', lastYear: '近一年', visitsAndRepairs: '工单 {n} 次，其中维修 {r} 次', daysAgo: '已过 {n} 天',
  renewalOffer: '流量卡 {n} 天后到期，顺便续费？', renewalOfferExpired: '流量卡已过期 {n} 天，顺便续费？', renewalAccept: '新建流量卡续费工单', renewalCreated: '已新建流量卡续费工单', renewalLinked: '已新建同行的流量卡续费工单，点此打开', historyAsOf: '档案日期',
  stampPhoto: '加水印：时间、商户、机身号、位置', mark: '标注', markArrow: '箭头', markCircle: '圆圈', markText: '文字', markHint: '在照片上拖动，画出箭头或圆圈；原照片不会改动', markTextHint: '先输入文字，再点照片上要放的位置', markTextPlaceholder: '例如：屏幕裂', markNeedsText: '请先输入标注文字', markDone: '完成标注', rubOut: '擦除',
  looks: '显示', looksHint: '强光：黑白高对比，阳光下更清楚。自动：跟随手机的深色设置。', themeAuto: '自动', themeLight: '浅色', themeDark: '深色', themeContrast: '强光',
};

type Messages = typeof zh;
export type MessageKey = keyof Messages;

const en: Messages = {
  appName: 'POS Service', today: "Today's jobs", sync: 'Sync', settings: 'Settings', back: 'Back', save: 'Save', cancel: 'Cancel',
  enrolTitle: 'Enrol this phone', enrolHint: 'Scan or paste the enrolment link from the back office (posfield://…), or enter the server address and the code. Enrol once; after that the app works offline.',
  server: 'Enrolment link or server address', code: 'Enrolment code', enrol: 'Enrol', enrolDone: 'Enrolled', enrolledAs: 'Enrolled: ',
  filterAll: 'All', filterWaiting: 'Waiting to sync', waitingToSync: 'Waiting to sync', synced: 'Synced',
  newVisit: 'New visit', kind: 'Visit kind', merchant: 'Merchant name', merchantNumber: 'Merchant number', terminalNumber: 'Terminal number',
  phone: 'Registered phone', address: 'Address', merchantDetails: 'Merchant (correct if wrong)', create: 'Create', noVisits: 'No visits', moreVisits: 'More visits: use a filter',
  returnedNote: 'Returned: {note}', readOnlyNewer: 'This visit was written by a newer version of the app; update the app to change it.', checklist: 'Checklist', missing: 'Still missing', nothingMissing: 'Everything required is done: ready to complete',
  complete: 'Complete visit', completed: 'Completed, waiting for review', markDone: 'Done', skip: 'Skip', notApplicable: 'N/A', undo: 'Undo',
  skipReason: 'Reason for skipping', optional: 'optional', stepDone: 'Done', stepSkipped: 'Skipped', stepPending: 'To do', stepNa: 'N/A',
  notApplicableHere: 'Not needed this time',
  identify: 'Identify terminal', identifyTitle: 'Terminal serial', replacementTitle: 'New terminal serial', serial: 'Serial (SN)',
  takePhoto: 'Photograph the label', choosePhoto: 'Choose a label photo', typeSerial: 'Type the serial', record: 'Record', scanNfc: 'Read NFC',
  liveScan: 'Scan', decoding: 'Reading…', decodedSerial: 'Serial read', alternatives: 'Other codes on the label: tap to correct',
  useThis: 'Use this', confirmSerial: 'Correct',
  notExpected: 'The dispatched serial {expected} is not on this label: it may be another terminal. Check, then tap the serial on the label, or retake the photo.',
  severalSerials: 'The label holds more than one possible serial.', unknownFormat: 'Cannot tell whether this number is the serial.',
  readingIncomplete: 'The photo was not read completely: the serial\'s code may have been missed.',
  tapTheSerial: 'Compare with the label and tap the serial (S/N):', nfcHold: 'Hold the phone to the NFC tag on the back of the terminal',
  faults: 'Faults', addFault: 'Record a fault', category: 'Category', symptom: 'Symptom', recommended: 'Recommended on-site steps',
  tried: 'Tried', fixedIt: 'Fixed it', notFixed: 'Did not fix', recordAttempt: 'Record attempt', otherAttempt: 'Something else (describe)',
  resolveFixed: 'Fault fixed', resolveNotFixed: 'Cannot fix on site', faultOpen: 'Open', faultFixed: 'Fixed', faultNotFixed: 'Not fixed',
  photos: 'Document photos', photoKind: 'Photo kind', addPhoto: 'Take / choose photo', retake: 'Retake', remove: 'Remove', noPhotos: 'No photos yet',
  onlyOnServer: 'Removed from this phone after approval, as required; the server keeps it',
  wanted: 'This visit needs', onPhone: 'On the phone only', confirmedByServer: 'Confirmed by the server', sending: 'Sending', sent: 'Sent, awaiting confirmation',
  details: 'More details', sim: 'SIM data card', iccid: 'ICCID', carrier: 'Carrier', expiry: 'Expiry', simAction: 'Action',
  newIccid: 'New ICCID', newExpiry: 'New expiry', backup: 'Data backup', confirmBackup: 'Confirm backup', warranty: 'Warranty',
  repairPlan: 'Repair plan', fee: 'Repair fee (yuan)', cause: 'Cause of suspension', application: 'Reactivation application', submitApplication: 'Submit application',
  replacement: 'New terminal', saved: 'Saved',
  acceptance: 'Acceptance', summaryTitle: 'Service confirmation', locked: 'Locked', waitsFor: 'Waiting for the back office', signerName: "Signer's name", signHere: 'Merchant signs here',
  clear: 'Clear', confirmSign: 'Confirm signature', signedBy: 'Signed by {name}', signatureValid: 'Signature valid: nothing changed',
  signatureChanged: 'Changed after signing: the merchant must sign again', changedFields: 'Changed: {fields}', signAgain: 'Sign again',
  handToMerchant: 'Hand the phone to the merchant to check and sign', otherPhotos: 'Other photos', turnLeft: 'Turn left', turnRight: 'Turn right', usePhoto: 'Use this photo', cropHint: 'Drag across the photo to mark the part to keep', cropClear: 'Keep it whole', openPad: 'Merchant signs', turnPhone: 'Turn the phone sideways to sign', verifyTitle: 'The merchant scans to check', verifyHint: 'Once synced, scanning this shows the merchant what they signed and whether it still matches.', verifyUnavailable: 'This phone is not enrolled with a server yet: no code to check with.', needSigner: "Enter the signer's name first",
  call: 'Call {phone}', noAddress: 'The job has no address: check it with the back office or the merchant.',
  syncTitle: 'Sync', syncNow: 'Sync now', lastSuccess: 'Last successful sync', never: 'Never', agent: 'Agent', serverAddr: 'Server',
  status: 'Status', syncing: 'Syncing…', syncOk: 'Everything synced', syncWaiting: '{n} {n|visit|visits} waiting to sync',
  documents: 'Visits', bytes: 'Photos', visitsWaiting: 'Waiting to sync', recentSynced: 'Synced',
  failuresInRow: '{n} {n|failure|failures} in a row', photoStates: 'Photo states', signature: 'Signature',
  language: '中文', visitCount: '{n} {n|visit|visits} on this phone',
  terminalDetails: 'Terminal model and production date', newTerminalDetails: "New terminal's model and production date", model: 'Model', manufacturer: 'Manufacturer (optional)',
  productionDate: 'Production date', ageYears: 'Age: {n} {n|year|years}', ageUnderOne: 'Age: under a year', productionDateLater: 'The production date cannot be after today',
  detailsNext: 'Serial recorded: now enter the model and production date from the label', identifyFirst: 'Identify the serial first, then enter the model and production date',
  parameters: 'Parameter set-up', parametersDownloaded: 'Parameters downloaded', keysDownloaded: 'Keys downloaded',
  networkTest: 'Network test', networkLink: 'Connection', testPassed: 'Signed on (test passed)', passed: 'Passed', failed: 'Failed', note: 'Note (optional)',
  restore: 'Data restore', restoredItems: 'Restored onto the new terminal', confirmRestore: 'Confirm restore',
  declineBackup: 'Merchant declines the backup', waiverStatement: "The merchant confirms declining the backup of this terminal's data (daily settlement reports, transactions, settlement slips), and signs to say so.",
  waiverReason: 'Reason for declining (optional)', confirmWaiver: 'Confirm: backup declined, signed', waivedBy: 'Backup declined, signed by {name}',
  deregistration: 'Deregistration', unbindReference: 'Unbinding reference', settledBalance: 'Settled balance (yuan)', settlementPhoto: 'Photograph the settlement proof',
  followUp: 'Follow-up day', followUpNote: 'What to check (optional)', inDays: 'In {n} {n|day|days}', followUpsToday: 'Follow-ups today', followUpOn: 'Follow-up: {day}',
  recorded: 'Recorded', notRecorded: 'Not recorded yet',
  handover: 'Hand-over of the terminal taken back', handoverCondition: 'Condition (casing, accessories)', conditionIntact: 'Casing intact', conditionScratched: 'Screen scratched',
  conditionMissingParts: 'Accessories missing', handoverSeal: 'Seal or bag number (optional)', handoverPhoto: 'Choose a photo of the terminal',
  handoverNoPhoto: 'No photo of the terminal yet: take one first.', takeTerminalPhoto: 'Photograph the terminal', handoverPhotoNeeded: 'The hand-over needs a photo of the terminal.',
  handoverPhotoRemoved: 'The recorded photo was removed: choose another and save.', handoverIdentifyFirst: 'Identify the terminal first, then record the hand-over.',
  handoverSave: 'Save the hand-over', handoverConditionShown: 'Condition: {condition}', handoverSealShown: 'Seal: {seal}',
  handoverNoPhotoShown: 'No photo', handoverPhotoShown: 'Photo: {state}', backToHandover: 'Back to the hand-over',
  photosWifiOnly: 'Photos on Wi-Fi only', photosWifiOnlyHint: 'On mobile data the visits still go at once; photos and signature images wait for Wi-Fi.',
  photosWaitingWifi: '{n} {n|photo|photos} waiting for Wi-Fi', photosWaitWifiShort: 'Sent; photos wait for Wi-Fi', visitsWaitingPhotos: 'Visits sent; {n} {n|photo|photos} waiting for Wi-Fi',
  networkNow: 'Network now', networkWifi: 'Wi-Fi', networkCellular: 'Mobile data', networkUnknown: 'Cannot tell',
  networkUnknownHint: 'The phone cannot tell which network it is on, so photos go anyway: evidence left on the phone is a bigger risk than the data.',
  resumedSync: 'The last sync was cut off (the app was closed); it continues now and nothing is lost.',
  dataUsed: 'Data used by sync', dataTotal: 'Total', dataOther: 'Other (sync checks)', dataSentReceived: 'Sent {sent} · received {received}',
  dataMore: '{n} more {n|visit|visits}', dataNotCounted: 'Counts what requests and answers carry, not HTTP headers or encryption: the real use is a little more.',
  offline: 'Offline', offlineState: 'Offline · saved on the phone · {n} {n|item|items} to send', offlineHint: 'No signal is normal: everything is kept on the phone and goes by itself when there is signal; nothing to do.',
  retryAt: 'Trying again {when}', syncProblem: 'Sync needs attention',
  jobsOfDay: 'Jobs that day', overdueJobs: 'Overdue', unplannedJobs: 'Not planned', allVisits: 'All visits',
  prevDay: 'Previous day', nextDay: 'Next day', backToToday: 'Back to today', wholeDay: 'Any time', plannedFor: 'Planned for {day}',
  noJobsThatDay: 'No jobs that day', searchJobs: 'Search shop, number, serial, phone', searchNone: 'No job matches',
  searchResults: '{n} {n|result|results}', navigate: 'Navigate', mapAmap: 'Amap', mapBaidu: 'Baidu Maps', mapApple: 'Apple Maps',
  moveUp: 'Move {merchant} up', moveDown: 'Move {merchant} down', callShort: 'Call', showAll: 'Show all {n}',
  news: 'News', newsUnseen: 'News, {n} unread', newsNone: 'No news yet. After a sync, new jobs, returned visits and decisions show here.',
  newsNewJob: 'New job', newsReturned: 'Visit returned', newsApplicationApproved: 'Reactivation approved', newsApplicationRejected: 'Reactivation rejected',
  newsReplanned: 'Job moved', newsCancelled: 'Job cancelled', newsPlanned: 'Planned: {day}', newsNoDay: 'No longer planned for a day', newsReason: 'Reason: {reason}',
  tripAccept: 'Accept job', tripDepart: 'Set off', tripArrive: 'Check in on arrival', tripAccepted: 'Accepted', tripDeparted: 'On the way', tripArrived: 'Arrived',
  tripTitle: 'The way there', tripAt: '{what} {at}', tripLocation: 'Location: {where} (within about {m} m)', tripLocationNoAccuracy: 'Location: {where}',
  noFixRefused: 'Location: not allowed; only the arrival time was recorded', noFixUnavailable: 'Location: the phone cannot tell; only the arrival time was recorded', noFixTimeout: 'Location: took too long; only the arrival time was recorded',
  arrivedSaved: 'Checked in on arrival', locating: 'Finding the location…',
  removePhotoAsk: 'Remove this photo? It must be taken again.', removePhotoYes: 'Remove',
  terminalHistory: 'Terminal history', simExpiry: 'SIM plan ends', warrantyEnd: 'Warranty ends', lastYear: 'Last year', visitsAndRepairs: '{n} {n|job|jobs}, {r} {r|repair|repairs}', daysAgo: '{n} {n|day|days} ago',
  renewalOffer: 'The SIM plan ends in {n} {n|day|days}: renew it on this trip?', renewalOfferExpired: 'The SIM plan ended {n} {n|day|days} ago: renew it on this trip?', renewalAccept: 'Create a SIM renewal job', renewalCreated: 'SIM renewal job created', renewalLinked: 'A SIM renewal job was created on this trip: open it', historyAsOf: 'As of',
  stampPhoto: 'Stamp it: time, merchant, serial, place', mark: 'Mark', markArrow: 'Arrow', markCircle: 'Circle', markText: 'Text', markHint: 'Drag across the photo to draw an arrow or a circle; the photo itself is not changed', markTextHint: 'Type the words, then tap where they go on the photo', markTextPlaceholder: 'e.g. cracked screen', markNeedsText: 'Type the mark\'s words first', markDone: 'Done marking', rubOut: 'Rub out',
  looks: 'Display', looksHint: 'Strong light: black on white, easier to read in the sun. Automatic: follows the phone\'s dark setting.', themeAuto: 'Automatic', themeLight: 'Light', themeDark: 'Dark', themeContrast: 'Strong light',
};

export const messages: Record<Locale, Messages> = { zh, en };

const plurals: Record<Locale, Intl.PluralRules> = { zh: new Intl.PluralRules('zh-CN'), en: new Intl.PluralRules('en') };

/**
 * A UI message with `{name}` placeholders filled, and `{name|one|other}`
 * the word for that count ("1 visit", "2 visits"; Chinese needs none).
 */
export function translate(locale: Locale, key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = messages[locale][key] ?? messages.zh[key] ?? key;
  return text
    .replace(/\{(\w+)\|([^|{}]*)\|([^|{}]*)\}/g, (whole, name: string, one: string, other: string) => {
      if (!(name in params)) return whole;
      return plurals[locale].select(Number(params[name])) === 'one' ? one : other;
    })
    .replace(/\{(\w+)\}/g, (_, name: string) => (name in params ? String(params[name]) : `{${name}}`));
}

/** A code a newer version of the app wrote: shown as written, said to be unknown here. */
export function unknownValue(locale: Locale, code: string): string {
  return locale === 'zh' ? `${code}（此版本不认识的值）` : `${code} (unknown to this version)`;
}

/** A domain term's label from the core's vocabulary. */
export function termLabel(locale: Locale, terms: Term[] | undefined, code: string | null | undefined): string {
  if (!code) return '';
  const found = terms?.find((t) => t.code === code);
  if (!found) return unknownValue(locale, code);
  return locale === 'zh' ? found.zh : found.en;
}

/**
 * The photos a visit asks for, in words: one requirement after another,
 * the kinds either of which will do joined by "or".
 */
export function wantedPhotosText(locale: Locale, groups: string[][], label: (code: string) => string): string {
  const or = locale === 'zh' ? '或' : ' or ';
  const and = locale === 'zh' ? '、' : ', ';
  return groups.map((kinds) => kinds.map(label).join(or)).join(and);
}

const errorWords: Record<string, { zh: string; en: string }> = {
  offline: { zh: '连不上服务器。所有数据都保存在手机上，有信号时会自动发送。', en: 'Cannot reach the server. Everything is kept on the phone and sent when there is signal.' },
  refused: { zh: '服务器拒绝了请求，请联系后台。', en: 'The server refused: please call the back office.' },
  app_too_old: { zh: '请将应用更新到 {minimum} 或更高版本后再同步。所有数据都保存在手机上。', en: 'Update the app to {minimum} or later to sync. Everything is kept on the phone.' },
  credential_expired: { zh: '这部手机的绑定已过期，请向后台索取新的绑定码重新绑定。所有数据都保存在手机上。', en: "This phone's enrolment expired: enrol it again with a new code from the back office. Everything is kept on the phone." },
  credential_revoked: { zh: '这部手机的绑定已被后台撤销，请向后台索取新的绑定码重新绑定。所有数据都保存在手机上。', en: "This phone's enrolment was revoked: enrol it again with a new code from the back office. Everything is kept on the phone." },
  not_enrolled: { zh: '这部手机还没有绑定，请先绑定。', en: 'This phone is not enrolled yet: enrol it first.' },
  bad_server: { zh: '服务器地址不正确，应以 https:// 开头。', en: 'The server address is not right: it starts with https://.' },
  insecure_server: { zh: '服务器地址必须以 https:// 开头，不加密的 http:// 地址不安全，不能使用。请向后台确认地址。', en: 'The server address must start with https://: a plain http:// address is not safe and cannot be used. Check the address with the back office.' },
  bad_link: { zh: '绑定链接不正确，请重新扫码或向后台索取新的绑定链接。', en: 'The enrolment link is not right: scan it again or ask the back office for a new one.' },
  wrong_certificate: { zh: '服务器的证书与绑定时的不一致，可能有人冒充服务器。没有发送任何数据；请联系管理员。', en: "The server's certificate is not the one this phone was enrolled with: someone may be impersonating the server. Nothing was sent; call your administrator." },
  untrusted_certificate: { zh: '服务器的证书不受信任（可能已过期，或当前网络拦截了连接）。没有发送任何数据；请换个网络重试或联系管理员。', en: "The server's certificate is not trusted (it may have expired, or this network intercepts the connection). Nothing was sent; try another network or call your administrator." },
  interrupted: { zh: '同步中断了，数据没有丢失，稍后会继续。', en: 'The sync was cut off; nothing is lost and it continues later.' },
  unfinished: { zh: '还有部分工单或照片没有发送完，稍后会自动继续。', en: 'Some visits or photos are not sent yet; it continues by itself.' },
  incomplete: { zh: '还有必填项没有完成。', en: 'Some required items are not done yet.' },
  barcode: { zh: '照片里没有找到机身号条码。请靠近标签重拍，或手动输入。', en: 'No serial barcode found in the photo. Retake it closer to the label, or type the serial.' },
  photo: { zh: '这张照片无法使用，请重拍。', en: 'This photo cannot be used: please retake it.' },
  nfc: { zh: '没有从 NFC 标签读到机身号，请拍标签照片或手动输入。', en: 'No serial read from the NFC tag: photograph the label or type it.' },
  signature: { zh: '签字无效，请商户重新签字。', en: 'The signature is not usable: the merchant signs again.' },
  key_gone: { zh: '手机上的数据无法打开：保存它的密钥已不在手机的安全存储里。数据没有被删除，请联系后台。', en: 'The data on this phone cannot be opened: its key is gone from the phone\'s secure storage. Nothing was deleted; call the back office.' },
  keystore: { zh: '手机的安全存储暂时不可用，请重启应用后再试。数据没有被删除。', en: 'The phone\'s secure storage is not available: restart the app and try again. Nothing was deleted.' },
  serial_not_offered: { zh: '这个机身号不在照片识别出的候选里，请重拍标签或手动输入。', en: 'That serial is not among those read from the photo: retake the label or type it.' },
  internal: { zh: '应用内部出错，已保存的数据不受影响。请重试；如果一再出现，请联系后台。', en: 'Something went wrong inside the app; saved data is safe. Retry, and call the back office if it keeps happening.' },
  storage_full: { zh: '手机存储空间已满，请清理后重试。已保存的数据不受影响。', en: 'The phone is full. Free some space and retry; saved data is safe.' },
  storage: { zh: '手机存储出错，已保存的数据不受影响。请重试。', en: 'A storage error on the phone; saved data is safe. Retry.' },
  visit_locked: { zh: '工单已提交或已审核，不能再修改。', en: 'The visit is completed or reviewed and cannot be changed.' },
  newer_schema: { zh: '这个工单是由更新版本的应用写入的，只能查看。请更新应用后再修改。', en: 'This visit was written by a newer version of the app; update the app to change it.' },
  visit_not_found: { zh: '找不到这个工单。', en: 'This visit is not on the phone.' },
  bad_visit_id: { zh: '工单编号不正确。', en: 'That is not a visit number.' },
  bad_blob_hash: { zh: '照片编号不正确。', en: 'That is not a photo reference.' },
  file_not_in_visit: { zh: '这张照片不属于这个工单。', en: 'This photo does not belong to this visit.' },
  invalid_input: { zh: '输入的内容不正确，请检查。', en: 'Something entered is not valid: please check.' },
  visit_rule: { zh: '当前工单状态下不能这样操作。', en: 'This action is not possible for the visit as it stands.' },
  forbidden: { zh: '没有权限进行此操作。', en: 'Not allowed.' },
  waits_for_decision: { zh: '复机申请还没有审批通过。同步后如已批准，即可继续安装。', en: 'The reactivation application is not approved yet. Sync: once approved, the installation can go on.' },
  not_signed_in: { zh: '请先绑定手机。', en: 'Enrol the phone first.' },
  no_stamp_font: { zh: '这台手机没有可用的中文字体，无法加水印。请关闭水印后再保存照片。', en: 'This phone has no Chinese font to stamp photos with: turn the stamp off to keep the photo.' },
};

/** An error this version has no words for: in Chinese, without the core's English. */
const unknownErrorZh = '出错了，请重试。已保存的数据不受影响；如果一再出现，请联系后台。';

/** An app too old for the server, when the server did not say the minimum. */
const appTooOldNewest = {
  zh: '请将应用更新到最新版本后再同步。所有数据都保存在手机上。',
  en: 'Update the app to the newest version to sync. Everything is kept on the phone.',
};

/** The error codes this version has words for. */
export const knownErrorCodes: readonly string[] = Object.keys(errorWords);

/** Words an agent understands for an error code. */
export function errorText(locale: Locale, error: unknown): string {
  const e = error as {
    code?: string; message?: string; minimum_app_version?: string | null;
    details?: { missing?: string[]; minimum_app_version?: string } | null;
  };
  const words = e?.code ? errorWords[e.code] : undefined;
  if (!words) {
    // The core's message is English, for the logs: never shown in Chinese.
    if (locale === 'zh') return unknownErrorZh;
    return `Something went wrong: ${e?.message ?? String(error)}`;
  }
  const base = words[locale];
  if (e.code === 'incomplete' && e.details?.missing?.length) return `${base} ${e.details.missing.join('、')}`;
  if (e.code === 'invalid_input' && e.message && locale === 'en') return `${base} (${e.message})`;
  if (e.code === 'app_too_old') {
    // The websocket's refusal does not say the minimum: then the newest version.
    const minimum = e.minimum_app_version ?? e.details?.minimum_app_version;
    return minimum ? base.replace('{minimum}', minimum) : appTooOldNewest[locale];
  }
  return base;
}

/** The signed summary's fields, as the agent and the merchant call them. */
